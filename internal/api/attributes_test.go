package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/servertest"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// addInstance writes a container instance record as registration (the agent
// issue) will.
func addInstance(t *testing.T, srv *servertest.Server, cluster, id string) string {
	t.Helper()
	arn := "arn:aws:ecs:us-east-1:000000000000:container-instance/" + cluster + "/" + id
	b, _ := json.Marshal(ecs.ContainerInstance{ID: id, ARN: arn, Cluster: cluster, Status: ecs.InstanceActive,
		Attributes: []ecs.Attribute{{Name: "ecs.os-type", Value: "linux"}}})
	if _, err := srv.Store().Txn(testCtx(t), store.Put(state.InstanceKey(cluster, id), b, store.ExpectAbsent)); err != nil {
		t.Fatal(err)
	}
	return arn
}

func attr(name, value, target string) types.Attribute {
	a := types.Attribute{Name: aws.String(name), TargetId: aws.String(target), TargetType: types.TargetTypeContainerInstance}
	if value != "" {
		a.Value = aws.String(value)
	}
	return a
}

func TestAttributes(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)
	if _, err := c.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String("attrs")}); err != nil {
		t.Fatal(err)
	}
	i1 := addInstance(t, srv, "attrs", "i1")
	addInstance(t, srv, "attrs", "i2")

	_, err := c.PutAttributes(ctx, &sdkecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{
		attr("stack", "prod", i1), attr("gpu", "", "i2"), attr("stack", "dev", "i2")}})
	if err != nil {
		t.Fatal(err)
	}
	list := func(in *sdkecs.ListAttributesInput) []string {
		t.Helper()
		in.Cluster, in.TargetType = aws.String("attrs"), types.TargetTypeContainerInstance
		var got []string
		p := sdkecs.NewListAttributesPaginator(c, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range out.Attributes {
				got = append(got, aws.ToString(a.TargetId)[len(i1)-2:]+":"+aws.ToString(a.Name)+"="+aws.ToString(a.Value))
			}
		}
		return got
	}
	if got := list(&sdkecs.ListAttributesInput{MaxResults: aws.Int32(2)}); !equal(got, []string{
		"i1:ecs.os-type=linux", "i1:stack=prod", "i2:ecs.os-type=linux", "i2:gpu=", "i2:stack=dev"}) {
		t.Errorf("all attributes: %v", got)
	}
	if got := list(&sdkecs.ListAttributesInput{AttributeName: aws.String("stack"), AttributeValue: aws.String("dev")}); !equal(got, []string{"i2:stack=dev"}) {
		t.Errorf("filtered: %v", got)
	}
	if _, err := c.DeleteAttributes(ctx, &sdkecs.DeleteAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{attr("stack", "", "i2")}}); err != nil {
		t.Fatal(err)
	}
	if got := list(&sdkecs.ListAttributesInput{AttributeName: aws.String("stack")}); !equal(got, []string{"i1:stack=prod"}) {
		t.Errorf("after delete: %v", got)
	}

	// One unknown target fails the whole call: nothing is written.
	_, err = c.PutAttributes(ctx, &sdkecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{
		attr("zone", "a", "i1"), attr("zone", "b", "ghost")}})
	wantAPIError(t, err, "TargetNotFoundException", "ghost")
	if got := list(&sdkecs.ListAttributesInput{AttributeName: aws.String("zone")}); len(got) != 0 {
		t.Errorf("partial write: %v", got)
	}
	// Ten custom attributes per instance at most.
	var many []types.Attribute
	for i := 0; i < 10; i++ {
		many = append(many, attr("k"+string(rune('a'+i)), "v", "i1"))
	}
	_, err = c.PutAttributes(ctx, &sdkecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: many})
	wantAPIError(t, err, "AttributeLimitExceededException", "10")

	tests := []struct {
		name  string
		attrs []types.Attribute
		typ   string
		frag  string
	}{
		{"bad name", []types.Attribute{attr("no spaces", "", "i1")}, "InvalidParameterException", "no spaces"},
		{"bad value", []types.Attribute{attr("x", " padded", "i1")}, "InvalidParameterException", "padded"},
		{"instance of another cluster", []types.Attribute{attr("x", "", "arn:aws:ecs:us-east-1:000000000000:container-instance/other/i1")}, "TargetNotFoundException", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.PutAttributes(ctx, &sdkecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: tt.attrs})
			wantAPIError(t, err, tt.typ, tt.frag)
		})
	}
	// The SDK checks required members itself; the server checks them too.
	admin := &aws.Credentials{AccessKeyID: srv.Admin.AccessKeyID, SecretAccessKey: srv.Admin.SecretAccessKey}
	if r := rawCall(t, srv, "POST", target+"ListAttributes", []byte(`{"cluster":"attrs"}`), admin, time.Now()); r.typ != "InvalidParameterException" || !strings.Contains(r.msg, "targetType") {
		t.Errorf("ListAttributes without targetType: %+v", r)
	}
	if r := rawCall(t, srv, "POST", target+"PutAttributes", []byte(`{"cluster":"attrs"}`), admin, time.Now()); r.typ != "InvalidParameterException" || !strings.Contains(r.msg, "attributes") {
		t.Errorf("PutAttributes without attributes: %+v", r)
	}
	_, err = c.PutAttributes(ctx, &sdkecs.PutAttributesInput{Cluster: aws.String("ghost"), Attributes: []types.Attribute{attr("x", "", "i1")}})
	wantAPIError(t, err, "ClusterNotFoundException")

	// Tags on a container instance.
	if _, err := c.TagResource(ctx, &sdkecs.TagResourceInput{ResourceArn: aws.String(i1), Tags: []types.Tag{tag("role", "edge")}}); err != nil {
		t.Fatal(err)
	}
	lt, err := c.ListTagsForResource(ctx, &sdkecs.ListTagsForResourceInput{ResourceArn: aws.String(i1)})
	if err != nil || tagMap(lt.Tags)["role"] != "edge" {
		t.Fatalf("instance tags: %v %v", lt, err)
	}
}
