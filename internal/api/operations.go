package api

// operations lists every ECS operation Berth serves. An operation missing
// here answers UnknownOperationException.
func operations() map[string]operation {
	return map[string]operation{
		// Clusters.
		"CreateCluster":               op((*Handler).createCluster),
		"DeleteCluster":               op((*Handler).deleteCluster),
		"DescribeClusters":            op((*Handler).describeClusters),
		"ListClusters":                op((*Handler).listClusters),
		"UpdateCluster":               op((*Handler).updateCluster),
		"UpdateClusterSettings":       op((*Handler).updateClusterSettings),
		"PutClusterCapacityProviders": op((*Handler).putClusterCapacityProviders),

		// Task definitions.
		"RegisterTaskDefinition":     op((*Handler).registerTaskDefinition),
		"DescribeTaskDefinition":     op((*Handler).describeTaskDefinition),
		"DeregisterTaskDefinition":   op((*Handler).deregisterTaskDefinition),
		"DeleteTaskDefinitions":      op((*Handler).deleteTaskDefinitions),
		"ListTaskDefinitions":        op((*Handler).listTaskDefinitions),
		"ListTaskDefinitionFamilies": op((*Handler).listTaskDefinitionFamilies),

		// Tags.
		"TagResource":         op((*Handler).tagResource),
		"UntagResource":       op((*Handler).untagResource),
		"ListTagsForResource": op((*Handler).listTagsForResource),

		// Attributes (of container instances).
		"PutAttributes":    op((*Handler).putAttributes),
		"DeleteAttributes": op((*Handler).deleteAttributes),
		"ListAttributes":   op((*Handler).listAttributes),

		// Account settings.
		"PutAccountSetting":        op((*Handler).putAccountSetting),
		"PutAccountSettingDefault": op((*Handler).putAccountSettingDefault),
		"DeleteAccountSetting":     op((*Handler).deleteAccountSetting),
		"ListAccountSettings":      op((*Handler).listAccountSettings),

		// Container instances and the agent's reports (instances.go, statechange.go).
		"RegisterContainerInstance":     op((*Handler).registerContainerInstance),
		"DeregisterContainerInstance":   op((*Handler).deregisterContainerInstance),
		"DescribeContainerInstances":    op((*Handler).describeContainerInstances),
		"ListContainerInstances":        op((*Handler).listContainerInstances),
		"UpdateContainerInstancesState": op((*Handler).updateContainerInstancesState),
		"DiscoverPollEndpoint":          op((*Handler).discoverPollEndpoint),
		"SubmitTaskStateChange":         op((*Handler).submitTaskStateChange),
		"SubmitContainerStateChange":    op((*Handler).submitContainerStateChange),
		"SubmitAttachmentStateChanges":  op((*Handler).submitAttachmentStateChanges),

		// Tasks (tasks.go).
		"RunTask":       op((*Handler).runTask),
		"StartTask":     op((*Handler).startTask),
		"StopTask":      op((*Handler).stopTask),
		"DescribeTasks": op((*Handler).describeTasks),
		"ListTasks":     op((*Handler).listTasks),

		// Services (services.go).
		"CreateService":           op((*Handler).createService),
		"UpdateService":           op((*Handler).updateService),
		"DeleteService":           op((*Handler).deleteService),
		"DescribeServices":        op((*Handler).describeServices),
		"ListServices":            op((*Handler).listServices),
		"ListServicesByNamespace": op((*Handler).listServicesByNamespace),

		// Service deployments and revisions (servicedeployments.go).
		"ListServiceDeployments":     op((*Handler).listServiceDeployments),
		"DescribeServiceDeployments": op((*Handler).describeServiceDeployments),
		"DescribeServiceRevisions":   op((*Handler).describeServiceRevisions),
		"StopServiceDeployment":      op((*Handler).stopServiceDeployment),
	}
}
