package servertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/berth/berth/internal/server"
	"github.com/berth/berth/internal/store/etcd/etcdtest"
)

// Two Berth servers on one etcd share one state: what one writes, the other
// serves, and the credential the first created signs requests to both.
func TestTwoServersShareEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real etcd")
	}
	e := etcdtest.Start(t)
	onEtcd := func(c *server.Config) {
		c.Store = server.StoreEtcd
		c.EtcdEndpoints = []string{e.Endpoint}
		c.EtcdPrefix = "/berth-test"
	}
	a := Start(t, onEtcd)
	b := Start(t, onEtcd, func(c *server.Config) { c.WriteCredentials = false })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	ca := a.ECS(t)
	cb := b.ECSWith(a.Admin.AccessKeyID, a.Admin.SecretAccessKey)
	if _, err := ca.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}
	d, err := cb.DescribeClusters(ctx, &sdkecs.DescribeClustersInput{Clusters: []string{"shared"}})
	if err != nil || len(d.Clusters) != 1 {
		t.Fatalf("second server does not see the cluster: %+v %v", d, err)
	}
	// Concurrent registrations through both servers get distinct revisions.
	errs := make(chan error, 20)
	for i := 0; i < 10; i++ {
		for _, c := range []*sdkecs.Client{ca, cb} {
			go func(c *sdkecs.Client) {
				_, err := c.RegisterTaskDefinition(ctx, &sdkecs.RegisterTaskDefinitionInput{
					Family:               aws.String("shared"),
					ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("c"), Image: aws.String("busybox"), Memory: aws.Int32(64)}},
				})
				errs <- err
			}(c)
		}
	}
	for i := 0; i < 20; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	l, err := ca.ListTaskDefinitions(ctx, &sdkecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("shared")})
	if err != nil || len(l.TaskDefinitionArns) != 20 {
		t.Fatalf("revisions after concurrent registration: %d %v", len(l.TaskDefinitionArns), err)
	}
	last, err := cb.DescribeTaskDefinition(ctx, &sdkecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("shared")})
	if err != nil || last.TaskDefinition.Revision != 20 {
		t.Fatalf("latest revision: %v %v", last, err)
	}
	// Server b did not create a second admin credential: only a's exists,
	// and an unknown key is refused by both.
	bad := b.ECSWith("BKIAAAAAAAAAAAAAAAAA", a.Admin.SecretAccessKey)
	_, err = bad.ListClusters(ctx, &sdkecs.ListClustersInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnrecognizedClientException" {
		t.Fatalf("unknown key on server b: %v", err)
	}
}
