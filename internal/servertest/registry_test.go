package servertest

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth/berth/internal/server"
	"github.com/berth/berth/internal/store/etcd/etcdtest"
	"github.com/berth/berth/internal/testimage"
)

// Two servers on one etcd and one registry directory serve the same
// images: a repository created and an image pushed through one pull from
// the other, with the other's tokens (the token key lives in the store).
func TestTwoServersShareRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real etcd")
	}
	e := etcdtest.Start(t)
	regDir := filepath.Join(t.TempDir(), "registry")
	shared := func(c *server.Config) {
		c.Store, c.EtcdEndpoints, c.EtcdPrefix = server.StoreEtcd, []string{e.Endpoint}, "/berth-registry-test"
		c.RegistryDir = regDir
	}
	a := Start(t, shared)
	b := Start(t, shared, func(c *server.Config) { c.WriteCredentials = false })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ecrOf := func(s *Server) *sdkecr.Client {
		return sdkecr.New(sdkecr.Options{Region: s.Config.Region, BaseEndpoint: aws.String(s.Endpoint()),
			Credentials: credentials.NewStaticCredentialsProvider(a.Admin.AccessKeyID, a.Admin.SecretAccessKey, "")})
	}
	password := func(s *Server) string {
		out, err := ecrOf(s).GetAuthorizationToken(ctx, &sdkecr.GetAuthorizationTokenInput{})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
		if err != nil {
			t.Fatal(err)
		}
		_, pw, _ := strings.Cut(string(raw), ":")
		return pw
	}
	if _, err := ecrOf(a).CreateRepository(ctx, &sdkecr.CreateRepositoryInput{RepositoryName: aws.String("shared/app")}); err != nil {
		t.Fatal(err)
	}
	hostA := strings.TrimPrefix(a.Endpoint(), "http://")
	hostB := strings.TrimPrefix(b.Endpoint(), "http://")
	pushed, err := testimage.Push(ctx, hostA, "shared/app", "v1", testimage.WithAuth("AWS", password(a)))
	if err != nil {
		t.Fatal(err)
	}
	// Pulled from b with a token b minted, and with one a minted.
	for who, pw := range map[string]string{"b's token": password(b), "a's token": password(a)} {
		ref, err := name.NewTag(hostB+"/shared/app:v1", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithAuth(&authn.Basic{Username: "AWS", Password: pw}))
		if err != nil {
			t.Fatalf("pull from b with %s: %v", who, err)
		}
		if d, err := img.Digest(); err != nil || d.String() != pushed {
			t.Fatalf("pull from b with %s: digest %v %v, want %s", who, d, err, pushed)
		}
	}
	got, err := ecrOf(b).DescribeImages(ctx, &sdkecr.DescribeImagesInput{RepositoryName: aws.String("shared/app")})
	if err != nil || len(got.ImageDetails) != 1 || aws.ToString(got.ImageDetails[0].ImageDigest) != pushed {
		t.Fatalf("b describes %+v %v", got, err)
	}
}
