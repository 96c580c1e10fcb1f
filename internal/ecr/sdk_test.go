package ecr

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// sdkClient serves e's Handler behind a test-only front door on
// 127.0.0.1 (POST /, X-Amz-Target, JSON or the error, as the real one
// does) and returns an AWS SDK ECR client for it. signingNames collects
// the SigV4 credential scopes the SDK signed with.
func sdkClient(t *testing.T, e *env) (*ecr.Client, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var scopes []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if _, scope, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
			scope, _, _ = strings.Cut(scope, ",")
			scopes = append(scopes, scope)
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		body, err := io.ReadAll(r.Body)
		if err != nil || r.Method != http.MethodPost || r.URL.Path != "/" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		op, _ := strings.CutPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
		out, err := e.h.Call(r.Context(), op, body)
		if err != nil {
			we := err.(wireErr)
			w.Header().Set("X-Amzn-Errortype", we.WireType())
			w.WriteHeader(we.WireStatus())
			json.NewEncoder(w).Encode(map[string]string{"__type": we.WireType(), "message": we.Error()})
			return
		}
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	c := ecr.New(ecr.Options{
		Region:           testRegion,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDBERTHTEST", "not-a-secret", ""),
		BaseEndpoint:     aws.String(srv.URL),
		RetryMaxAttempts: 1,
	})
	return c, &scopes
}

// wantErr checks that err is of SDK error type T and its message holds msg.
func wantErr[T error](t *testing.T, err error, msg string) {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error %T %v, want %T", err, err, target)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %q does not mention %q", err, msg)
	}
}

func TestSDKRepositories(t *testing.T) {
	e := newEnv(t)
	c, scopes := sdkClient(t, e)
	ctx := context.Background()

	out, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:     aws.String("team/api"),
		ImageTagMutability: types.ImageTagMutabilityImmutable,
		Tags:               []types.Tag{{Key: aws.String("team"), Value: aws.String("core")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Repository
	if aws.ToString(r.RepositoryUri) != "127.0.0.1:8830/team/api" || aws.ToString(r.RegistryId) != testAccount ||
		aws.ToString(r.RepositoryArn) != "arn:aws:ecr:eu-west-3:123456789012:repository/team/api" ||
		!r.CreatedAt.Equal(e.clock.Now()) || r.ImageTagMutability != types.ImageTagMutabilityImmutable ||
		r.EncryptionConfiguration.EncryptionType != types.EncryptionTypeAes256 || r.ImageScanningConfiguration.ScanOnPush {
		t.Fatalf("created %+v", r)
	}
	if len(*scopes) == 0 || !strings.HasSuffix((*scopes)[0], "/eu-west-3/ecr/aws4_request") {
		t.Fatalf("SigV4 scopes %v: the front door must accept signing name ecr", *scopes)
	}
	_, err = c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/api")})
	wantErr[*types.RepositoryAlreadyExistsException](t, err, "already exists")
	_, err = c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("Team")})
	wantErr[*types.InvalidParameterException](t, err, "regular expression")

	for i := range 6 {
		if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(fmt.Sprintf("repo-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	pages := 0
	p := ecr.NewDescribeRepositoriesPaginator(c, &ecr.DescribeRepositoriesInput{}, func(o *ecr.DescribeRepositoriesPaginatorOptions) { o.Limit = 3 })
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range page.Repositories {
			names = append(names, aws.ToString(r.RepositoryName))
		}
	}
	if pages != 3 || strings.Join(names, " ") != "repo-0 repo-1 repo-2 repo-3 repo-4 repo-5 team/api" {
		t.Fatalf("%d pages: %v", pages, names)
	}

	_, err = c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"repo-0", "missing"}})
	wantErr[*types.RepositoryNotFoundException](t, err, "The repository with name 'missing' does not exist in the registry with id '123456789012'")

	arn := r.RepositoryArn
	if _, err := c.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &ecr.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "env" || aws.ToString(tags.Tags[0].Value) != "prod" {
		t.Fatalf("tags %+v %v", tags, err)
	}
	_, err = c.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: aws.String("arn:nope")})
	wantErr[*types.InvalidParameterException](t, err, "Invalid ARN")
	_, err = c.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}})
	wantErr[*types.InvalidTagParameterException](t, err, "aws:")

	mut, err := c.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{RepositoryName: aws.String("team/api"), ImageTagMutability: types.ImageTagMutabilityMutable})
	if err != nil || mut.ImageTagMutability != types.ImageTagMutabilityMutable {
		t.Fatalf("PutImageTagMutability %+v %v", mut, err)
	}

	auth, err := c.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil || len(auth.AuthorizationData) != 1 {
		t.Fatalf("GetAuthorizationToken %+v %v", auth, err)
	}
	ad := auth.AuthorizationData[0]
	raw, _ := base64.StdEncoding.DecodeString(aws.ToString(ad.AuthorizationToken))
	if user, pw, _ := strings.Cut(string(raw), ":"); user != "AWS" || pw != "pw-120000" ||
		aws.ToString(ad.ProxyEndpoint) != "http://127.0.0.1:8830" || !ad.ExpiresAt.Equal(e.clock.Now().Add(12*time.Hour)) {
		t.Fatalf("authorization data %q %+v", raw, ad)
	}

	del, err := c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("repo-0")})
	if err != nil || aws.ToString(del.Repository.RepositoryName) != "repo-0" {
		t.Fatalf("DeleteRepository %+v %v", del, err)
	}
	_, err = c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("repo-0")})
	wantErr[*types.RepositoryNotFoundException](t, err, "'repo-0'")

	// An internal failure reaches the SDK as a ServerException.
	e.h.store.Close()
	_, err = c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
	wantErr[*types.ServerException](t, err, "internal error")
}

func TestSDKImages(t *testing.T) {
	e := newEnv(t)
	c, _ := sdkClient(t, e)
	ctx := context.Background()
	if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app"), ImageTagMutability: types.ImageTagMutabilityImmutable}); err != nil {
		t.Fatal(err)
	}
	pushedAt := e.clock.Now()
	var digests []string
	for i := range 5 {
		in := &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageManifest: aws.String(manifest(fmt.Sprint(i)))}
		if i < 4 {
			in.ImageTag = aws.String(fmt.Sprintf("v%d", i))
		}
		out, err := c.PutImage(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, aws.ToString(out.Image.ImageId.ImageDigest))
	}
	untagged := digests[4]
	m0 := manifest("0")

	_, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageTag: aws.String("v0"), ImageManifest: aws.String(m0)})
	wantErr[*types.ImageAlreadyExistsException](t, err, "already exists")
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageTag: aws.String("v0"), ImageManifest: aws.String(manifest("new"))})
	wantErr[*types.ImageTagAlreadyExistsException](t, err, "immutable")
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageTag: aws.String("v9"), ImageManifest: aws.String(manifest("new")), ImageDigest: aws.String(digests[0])})
	wantErr[*types.ImageDigestDoesNotMatchException](t, err, digests[0])
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageTag: aws.String("v9"), ImageManifest: aws.String(manifest("new", "sha256:0bad00"))})
	wantErr[*types.LayersNotFoundException](t, err, "sha256:0bad00")

	// ListImages, one image id a page.
	var listed []types.ImageIdentifier
	lp := ecr.NewListImagesPaginator(c, &ecr.ListImagesInput{RepositoryName: aws.String("app")}, func(o *ecr.ListImagesPaginatorOptions) { o.Limit = 1 })
	for lp.HasMorePages() {
		page, err := lp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.ImageIds) > 1 {
			t.Fatalf("page of %d", len(page.ImageIds))
		}
		listed = append(listed, page.ImageIds...)
	}
	if len(listed) != 5 {
		t.Fatalf("listed %+v", listed)
	}
	untaggedOnly, err := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("app"), Filter: &types.ListImagesFilter{TagStatus: types.TagStatusUntagged}})
	if err != nil || len(untaggedOnly.ImageIds) != 1 || aws.ToString(untaggedOnly.ImageIds[0].ImageDigest) != untagged || untaggedOnly.ImageIds[0].ImageTag != nil {
		t.Fatalf("untagged %+v %v", untaggedOnly, err)
	}

	var details []types.ImageDetail
	dp := ecr.NewDescribeImagesPaginator(c, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), Filter: &types.DescribeImagesFilter{TagStatus: types.TagStatusTagged}},
		func(o *ecr.DescribeImagesPaginatorOptions) { o.Limit = 2 })
	for dp.HasMorePages() {
		page, err := dp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		details = append(details, page.ImageDetails...)
	}
	if len(details) != 4 {
		t.Fatalf("described %d tagged images", len(details))
	}
	for _, d := range details {
		if aws.ToString(d.RepositoryName) != "app" || len(d.ImageTags) != 1 || !d.ImagePushedAt.Equal(pushedAt) ||
			aws.ToString(d.ImageManifestMediaType) != mediaOCIManifest || aws.ToInt64(d.ImageSizeInBytes) != 0 || d.LastRecordedPullTime != nil {
			t.Fatalf("detail %+v", d)
		}
	}
	_, err = c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v7")}}})
	wantErr[*types.ImageNotFoundException](t, err, "imageTag:'v7'")

	got, err := c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("app"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v0")}, {ImageTag: aws.String("v7")}}})
	if err != nil || len(got.Images) != 1 || aws.ToString(got.Images[0].ImageManifest) != m0 || len(got.Failures) != 1 ||
		got.Failures[0].FailureCode != types.ImageFailureCodeImageNotFound || aws.ToString(got.Failures[0].ImageId.ImageTag) != "v7" {
		t.Fatalf("BatchGetImage %+v %v", got, err)
	}

	gone, err := c.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("app"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}, {ImageDigest: aws.String(untagged)}, {ImageTag: aws.String("v7")}}})
	if err != nil || len(gone.ImageIds) != 2 || len(gone.Failures) != 1 {
		t.Fatalf("BatchDeleteImage %+v %v", gone, err)
	}
	if got := e.images.digests("app"); len(got) != 3 || slices.Contains(got, untagged) || slices.Contains(got, digests[1]) {
		t.Fatalf("after delete the registry holds %v", got)
	}

	_, err = c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("app")})
	wantErr[*types.RepositoryNotEmptyException](t, err, "still contains images")
	if _, err := c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("app"), Force: true}); err != nil {
		t.Fatal(err)
	}
	_, err = c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("app")})
	wantErr[*types.RepositoryNotFoundException](t, err, "'app'")
}

func TestSDKLifecyclePolicy(t *testing.T) {
	e := newEnv(t)
	c, _ := sdkClient(t, e)
	ctx := context.Background()
	if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("app")})
	wantErr[*types.LifecyclePolicyNotFoundException](t, err, "Lifecycle policy does not exist")
	_, err = c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("app"),
		LifecyclePolicyText: aws.String(strings.Replace(untaggedPolicy(3), `"expire"}`, `"archive"}`, 1))})
	wantErr[*types.InvalidParameterException](t, err, "Lifecycle policy validation failure")

	text := untaggedPolicy(3)
	put, err := c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("app"), LifecyclePolicyText: aws.String(text)})
	if err != nil || aws.ToString(put.LifecyclePolicyText) != text || aws.ToString(put.RegistryId) != testAccount {
		t.Fatalf("PutLifecyclePolicy %+v %v", put, err)
	}
	if _, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageManifest: aws.String(manifest("old"))}); err != nil {
		t.Fatal(err)
	}
	at := e.clock.Now().Add(4*24*time.Hour + 500*time.Millisecond)
	if n, err := e.h.ApplyLifecyclePolicies(ctx, at); err != nil || n != 1 {
		t.Fatalf("ApplyLifecyclePolicies = %d, %v", n, err)
	}
	get, err := c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("app")})
	if err != nil || aws.ToString(get.LifecyclePolicyText) != text || get.LastEvaluatedAt == nil || !get.LastEvaluatedAt.Equal(at) {
		t.Fatalf("GetLifecyclePolicy %+v %v (want lastEvaluatedAt %v)", get, err, at)
	}
	if _, err := c.DeleteLifecyclePolicy(ctx, &ecr.DeleteLifecyclePolicyInput{RepositoryName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteLifecyclePolicy(ctx, &ecr.DeleteLifecyclePolicyInput{RepositoryName: aws.String("app")})
	wantErr[*types.LifecyclePolicyNotFoundException](t, err, "'app'")
}
