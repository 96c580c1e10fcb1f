package api_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/servertest"
)

func tag(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }

func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func TestTagging(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)
	cl, err := c.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String("tagged"), Tags: []types.Tag{tag("a", "1")}})
	if err != nil {
		t.Fatal(err)
	}
	td, err := c.RegisterTaskDefinition(ctx, webInput(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range []string{aws.ToString(cl.Cluster.ClusterArn), aws.ToString(td.TaskDefinition.TaskDefinitionArn)} {
		t.Run(res, func(t *testing.T) {
			if _, err := c.TagResource(ctx, &sdkecs.TagResourceInput{ResourceArn: aws.String(res), Tags: []types.Tag{tag("b", "2"), tag("a", "overwritten")}}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.UntagResource(ctx, &sdkecs.UntagResourceInput{ResourceArn: aws.String(res), TagKeys: []string{"b", "never-there"}}); err != nil {
				t.Fatal(err)
			}
			l, err := c.ListTagsForResource(ctx, &sdkecs.ListTagsForResourceInput{ResourceArn: aws.String(res)})
			if err != nil {
				t.Fatal(err)
			}
			got := tagMap(l.Tags)
			if got["a"] != "overwritten" || len(got) != 1 && got["env"] == "" {
				t.Errorf("tags = %v", got)
			}
			// 50 tags at most, counted after the merge; a refused call changes nothing.
			var many []types.Tag
			for i := 0; i < 50; i++ {
				many = append(many, tag("k"+string(rune('A'+i%26))+string(rune('a'+i/26)), "v"))
			}
			_, err = c.TagResource(ctx, &sdkecs.TagResourceInput{ResourceArn: aws.String(res), Tags: many})
			wantAPIError(t, err, "InvalidParameterException", "50")
			l2, err := c.ListTagsForResource(ctx, &sdkecs.ListTagsForResourceInput{ResourceArn: aws.String(res)})
			if err != nil || len(l2.Tags) != len(l.Tags) {
				t.Fatalf("tags after refused call: %v %v", l2.Tags, err)
			}
		})
	}
	tests := []struct {
		name, arn, typ, frag string
	}{
		{"not an ARN", "cluster/x", "InvalidParameterException", "resourceArn"},
		{"unknown cluster", "arn:aws:ecs:us-east-1:000000000000:cluster/ghost", "ClusterNotFoundException", ""},
		{"unknown task definition", "arn:aws:ecs:us-east-1:000000000000:task-definition/ghost:1", "ResourceNotFoundException", "ghost"},
		{"other account", "arn:aws:ecs:us-east-1:111111111111:cluster/tagged", "ResourceNotFoundException", ""},
		{"unsupported type", "arn:aws:ecs:us-east-1:000000000000:capacity-provider/FARGATE", "InvalidParameterException", "resourceArn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ListTagsForResource(ctx, &sdkecs.ListTagsForResourceInput{ResourceArn: aws.String(tt.arn)})
			wantAPIError(t, err, tt.typ, tt.frag)
		})
	}
	_, err = c.TagResource(ctx, &sdkecs.TagResourceInput{ResourceArn: cl.Cluster.ClusterArn, Tags: []types.Tag{tag("aws:reserved", "x")}})
	wantAPIError(t, err, "InvalidParameterException", "aws:")
}
