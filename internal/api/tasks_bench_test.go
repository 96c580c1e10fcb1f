package api_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/servertest"
)

// BenchmarkRunTask measures one RunTask (count 1) through the SDK on a
// cluster of 10 instances already holding `existing` tasks: placement
// reads the whole cluster, so its cost grows with the tasks there.
func BenchmarkRunTask(b *testing.B) {
	for _, existing := range []int{0, 500} {
		b.Run(fmt.Sprintf("existing=%d", existing), func(b *testing.B) {
			srv := servertest.Start(b)
			e := &tkEnv{srv: srv, c: srv.ECS(b), ctx: b.Context(), cluster: "bench"}
			if _, err := e.c.CreateCluster(e.ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String("bench")}); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < 10; i++ {
				e.instance(b, fmt.Sprintf("i%d", i), 1<<30, 1<<30)
			}
			e.def(b, "job", types.NetworkModeBridge, tkContainer("c", 1, 8, tkPort(80, 0)))
			for i := 0; i < existing; i += 10 {
				e.run(b, &sdkecs.RunTaskInput{TaskDefinition: aws.String("job"), Count: aws.Int32(10)})
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out, err := e.c.RunTask(e.ctx, &sdkecs.RunTaskInput{Cluster: aws.String("bench"), TaskDefinition: aws.String("job")})
				if err != nil || len(out.Tasks) != 1 {
					b.Fatalf("RunTask: %v %v", out, err)
				}
			}
		})
	}
}
