package agentproto

// TCS (telemetry, model "ecstcs" 2015-03-10). The agent sends each frame as
// an HTTP-style header block (its SigV4 signing headers), a blank line
// ("\r\n\r\n") and then the JSON Envelope; the server's frames are plain
// Envelopes. Timestamps are epoch seconds (JSON numbers, with fractions).

// TCS message type names.
const (
	TypePublishMetrics           = "PublishMetricsRequest"
	TypePublishHealth            = "PublishHealthRequest"
	TypePublishInstanceStatus    = "PublishInstanceStatusRequest"
	TypeAckPublishMetric         = "AckPublishMetric"
	TypeAckPublishHealth         = "AckPublishHealth"
	TypeAckPublishInstanceStatus = "AckPublishInstanceStatus"
	TypeStartTelemetrySession    = "StartTelemetrySessionRequest"
)

// TelemetryAck is the body of AckPublishMetric, AckPublishHealth and
// AckPublishInstanceStatus.
type TelemetryAck struct {
	Message string `json:"message"`
}

// MetricsMetadata heads a PublishMetricsRequest. Fin marks the last
// message of one publication (a publication is split into messages of at
// most 10 tasks); Idle says no task runs.
type MetricsMetadata struct {
	Cluster           string `json:"cluster"`
	ContainerInstance string `json:"containerInstance"`
	MessageID         string `json:"messageId"`
	Idle              bool   `json:"idle"`
	Fin               bool   `json:"fin"`
}

// PublishMetricsRequest carries task metrics, sent every 20 s.
type PublishMetricsRequest struct {
	Metadata    MetricsMetadata `json:"metadata"`
	TaskMetrics []TaskMetric    `json:"taskMetrics"`
	Timestamp   float64         `json:"timestamp,omitempty"`
}

// TaskMetric is the metrics of one task.
type TaskMetric struct {
	TaskARN               string            `json:"taskArn"`
	ClusterARN            string            `json:"clusterArn,omitempty"`
	TaskDefinitionFamily  string            `json:"taskDefinitionFamily,omitempty"`
	TaskDefinitionVersion string            `json:"taskDefinitionVersion,omitempty"`
	ContainerMetrics      []ContainerMetric `json:"containerMetrics"`
}

// ContainerMetric is the metrics of one container over the last period.
type ContainerMetric struct {
	ContainerARN    string           `json:"containerArn,omitempty"`
	ContainerName   string           `json:"containerName"`
	CPUStatsSet     *CWStatsSet      `json:"cpuStatsSet,omitempty"`
	MemoryStatsSet  *CWStatsSet      `json:"memoryStatsSet,omitempty"`
	NetworkStatsSet *NetworkStatsSet `json:"networkStatsSet,omitempty"`
	StorageStatsSet *StorageStatsSet `json:"storageStatsSet,omitempty"`
}

// CWStatsSet summarises samples (CPU percent, memory MiB).
type CWStatsSet struct {
	Min         float64 `json:"min"`
	Max         float64 `json:"max"`
	SampleCount int64   `json:"sampleCount"`
	Sum         float64 `json:"sum"`
}

// ULongStatsSet summarises counter samples; the overflow members carry
// what exceeds int64.
type ULongStatsSet struct {
	Min         int64 `json:"min"`
	Max         int64 `json:"max"`
	SampleCount int64 `json:"sampleCount"`
	Sum         int64 `json:"sum"`
	OverflowMin int64 `json:"overflowMin,omitempty"`
	OverflowMax int64 `json:"overflowMax,omitempty"`
	OverflowSum int64 `json:"overflowSum,omitempty"`
}

// NetworkStatsSet is a container's network counters.
type NetworkStatsSet struct {
	RxBytesPerSecond *CWStatsSet    `json:"rxBytesPerSecond,omitempty"`
	TxBytesPerSecond *CWStatsSet    `json:"txBytesPerSecond,omitempty"`
	RxBytes          *ULongStatsSet `json:"rxBytes,omitempty"`
	RxDropped        *ULongStatsSet `json:"rxDropped,omitempty"`
	RxErrors         *ULongStatsSet `json:"rxErrors,omitempty"`
	RxPackets        *ULongStatsSet `json:"rxPackets,omitempty"`
	TxBytes          *ULongStatsSet `json:"txBytes,omitempty"`
	TxDropped        *ULongStatsSet `json:"txDropped,omitempty"`
	TxErrors         *ULongStatsSet `json:"txErrors,omitempty"`
	TxPackets        *ULongStatsSet `json:"txPackets,omitempty"`
}

// StorageStatsSet is a container's block I/O counters.
type StorageStatsSet struct {
	ReadSizeBytes  *ULongStatsSet `json:"readSizeBytes,omitempty"`
	WriteSizeBytes *ULongStatsSet `json:"writeSizeBytes,omitempty"`
}

// HealthMetadata heads a PublishHealthRequest.
type HealthMetadata struct {
	Cluster           string `json:"cluster"`
	ContainerInstance string `json:"containerInstance"`
	MessageID         string `json:"messageId"`
	Fin               bool   `json:"fin"`
}

// PublishHealthRequest reports the health-check status of containers.
type PublishHealthRequest struct {
	Metadata  HealthMetadata `json:"metadata"`
	Tasks     []TaskHealth   `json:"tasks"`
	Timestamp float64        `json:"timestamp,omitempty"`
}

// TaskHealth is the health of the checked containers of one task.
type TaskHealth struct {
	TaskARN               string            `json:"taskArn"`
	ClusterARN            string            `json:"clusterArn,omitempty"`
	TaskDefinitionFamily  string            `json:"taskDefinitionFamily,omitempty"`
	TaskDefinitionVersion string            `json:"taskDefinitionVersion,omitempty"`
	Containers            []ContainerHealth `json:"containers"`
}

// ContainerHealth is one container's health: HEALTHY, UNHEALTHY or UNKNOWN
// since StatusSince (epoch seconds).
type ContainerHealth struct {
	ContainerName string  `json:"containerName"`
	HealthStatus  string  `json:"healthStatus"`
	StatusSince   float64 `json:"statusSince,omitempty"`
	StatusMessage string  `json:"statusMessage,omitempty"`
}

// InstanceStatusMetadata heads a PublishInstanceStatusRequest.
type InstanceStatusMetadata struct {
	Cluster           string `json:"cluster"`
	ContainerInstance string `json:"containerInstance"`
	RequestID         string `json:"requestId"`
}

// PublishInstanceStatusRequest reports the agent's local health checks.
type PublishInstanceStatusRequest struct {
	Metadata  InstanceStatusMetadata `json:"metadata"`
	Statuses  []InstanceStatus       `json:"statuses"`
	Timestamp float64                `json:"timestamp,omitempty"`
}

// InstanceStatus is one local check ("ContainerRuntime": OK, IMPAIRED,
// INSUFFICIENT_DATA, INITIALIZING).
type InstanceStatus struct {
	Type             string  `json:"type"`
	Status           string  `json:"status"`
	LastUpdated      float64 `json:"lastUpdated,omitempty"`
	LastStatusChange float64 `json:"lastStatusChange,omitempty"`
}
