package ecr

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/berth/berth/internal/registry"
)

// wireErr is what the front door needs of every error Call returns.
type wireErr interface {
	error
	WireType() string
	WireStatus() int
}

// call runs op and returns its response as generic JSON, or the wire
// error.
func (e *env) call(t *testing.T, op, body string) (map[string]any, wireErr) {
	t.Helper()
	out, err := e.h.Call(context.Background(), op, []byte(body))
	if err != nil {
		we, ok := err.(wireErr)
		if !ok {
			t.Fatalf("%s: error %T %v does not carry a wire type", op, err, err)
		}
		return nil, we
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatalf("%s: encode response: %v", op, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m, nil
}

func (e *env) ok(t *testing.T, op, body string) map[string]any {
	t.Helper()
	m, err := e.call(t, op, body)
	if err != nil {
		t.Fatalf("%s %s: %s: %v", op, body, err.WireType(), err)
	}
	return m
}

// fails checks that op fails with wire type typ and a message containing
// msg.
func (e *env) fails(t *testing.T, op, body, typ, msg string) {
	t.Helper()
	_, err := e.call(t, op, body)
	if err == nil {
		t.Fatalf("%s %s: succeeded, want %s", op, body, typ)
	}
	if err.WireType() != typ || !strings.Contains(err.Error(), msg) {
		t.Fatalf("%s %s: got %s %q, want %s containing %q", op, body, err.WireType(), err.Error(), typ, msg)
	}
}

func (e *env) createRepo(t *testing.T, name string) {
	t.Helper()
	e.ok(t, "CreateRepository", fmt.Sprintf(`{"repositoryName":%q}`, name))
}

func TestCreateRepositoryValidation(t *testing.T) {
	long := strings.Repeat("a", 257)
	tags51 := make([]string, 51)
	for i := range tags51 {
		tags51[i] = fmt.Sprintf(`{"Key":"k%d","Value":"v"}`, i)
	}
	cases := []struct {
		name, body, typ, msg string
	}{
		{"missing name", `{}`, "InvalidParameterException", "'repositoryName' failed to satisfy constraint: 'must not be null'"},
		{"short", `{"repositoryName":"a"}`, "InvalidParameterException", "greater than or equal to 2"},
		{"long", `{"repositoryName":"` + long + `"}`, "InvalidParameterException", "less than or equal to 256"},
		{"upper case", `{"repositoryName":"Web"}`, "InvalidParameterException", "must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*'"},
		{"double slash", `{"repositoryName":"a//b"}`, "InvalidParameterException", "regular expression"},
		{"leading dash", `{"repositoryName":"-ab"}`, "InvalidParameterException", "regular expression"},
		{"trailing slash", `{"repositoryName":"ab/"}`, "InvalidParameterException", "regular expression"},
		{"bad mutability", `{"repositoryName":"ab","imageTagMutability":"SOMETIMES"}`, "InvalidParameterException", "[IMMUTABLE, MUTABLE]"},
		{"bad encryption", `{"repositoryName":"ab","encryptionConfiguration":{"encryptionType":"ROT13"}}`, "InvalidParameterException", "[AES256, KMS]"},
		{"kms key with AES", `{"repositoryName":"ab","encryptionConfiguration":{"encryptionType":"AES256","kmsKey":"k"}}`, "InvalidParameterException", "kmsKey"},
		{"bad registry id", `{"repositoryName":"ab","registryId":"12"}`, "InvalidParameterException", "[0-9]{12}"},
		{"other registry", `{"repositoryName":"ab","registryId":"000000000001"}`, "InvalidParameterException", "registryId"},
		{"aws tag", `{"repositoryName":"ab","tags":[{"Key":"aws:owner","Value":"x"}]}`, "InvalidTagParameterException", "aws:"},
		{"long tag key", `{"repositoryName":"ab","tags":[{"Key":"` + strings.Repeat("k", 129) + `","Value":"x"}]}`, "InvalidTagParameterException", "128"},
		{"long tag value", `{"repositoryName":"ab","tags":[{"Key":"k","Value":"` + strings.Repeat("v", 257) + `"}]}`, "InvalidTagParameterException", "256"},
		{"tag without value", `{"repositoryName":"ab","tags":[{"Key":"k"}]}`, "InvalidTagParameterException", "Value"},
		{"51 tags", `{"repositoryName":"ab","tags":[` + strings.Join(tags51, ",") + `]}`, "TooManyTagsException", "50"},
		{"wrong type", `{"repositoryName":7}`, "SerializationException", "'repositoryName'"},
		{"bad json", `{"repositoryName":`, "SerializationException", "Malformed"},
	}
	e := newEnv(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.fails(t, "CreateRepository", c.body, c.typ, c.msg) })
	}
	// None of them created anything.
	if got := e.ok(t, "DescribeRepositories", `{}`)["repositories"].([]any); len(got) != 0 {
		t.Fatalf("repositories after failed creates: %v", got)
	}
}

func TestCreateAndDescribeRepository(t *testing.T) {
	e := newEnv(t)
	got := e.ok(t, "CreateRepository", `{"repositoryName":"team/web-app","imageTagMutability":"IMMUTABLE",
		"imageScanningConfiguration":{"scanOnPush":true},"tags":[{"Key":"b","Value":"2"},{"Key":"a","Value":"1"}]}`)
	repo := got["repository"].(map[string]any)
	want := map[string]any{
		"repositoryArn":              "arn:aws:ecr:eu-west-3:123456789012:repository/team/web-app",
		"registryId":                 testAccount,
		"repositoryName":             "team/web-app",
		"repositoryUri":              "127.0.0.1:8830/team/web-app",
		"createdAt":                  float64(e.clock.Now().Unix()),
		"imageTagMutability":         "IMMUTABLE",
		"imageScanningConfiguration": map[string]any{"scanOnPush": true},
		"encryptionConfiguration":    map[string]any{"encryptionType": "AES256"},
	}
	if fmt.Sprint(repo) != fmt.Sprint(want) {
		t.Fatalf("repository:\n got %v\nwant %v", repo, want)
	}
	e.fails(t, "CreateRepository", `{"repositoryName":"team/web-app"}`, "RepositoryAlreadyExistsException",
		"The repository with name 'team/web-app' already exists in the registry with id '123456789012'")

	desc := e.ok(t, "DescribeRepositories", `{"repositoryNames":["team/web-app"]}`)["repositories"].([]any)
	if len(desc) != 1 || fmt.Sprint(desc[0]) != fmt.Sprint(want) {
		t.Fatalf("described %v", desc)
	}
	tags := e.ok(t, "ListTagsForResource", `{"resourceArn":"arn:aws:ecr:eu-west-3:123456789012:repository/team/web-app"}`)
	if fmt.Sprint(tags["tags"]) != "[map[Key:a Value:1] map[Key:b Value:2]]" {
		t.Fatalf("tags %v", tags)
	}
	set, err := e.h.Repository(context.Background(), "team/web-app")
	if err != nil || !set.ImmutableTags {
		t.Fatalf("Repository: %+v %v", set, err)
	}
}

func TestDescribeRepositories(t *testing.T) {
	e := newEnv(t)
	names := []string{"a1", "b2", "c3/x", "c3-y", "d4"}
	for _, n := range names {
		e.createRepo(t, n)
	}
	// Paging in key order, two at a time.
	var seen []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		body := `{"maxResults":2}`
		if token != "" {
			body = fmt.Sprintf(`{"maxResults":2,"nextToken":%q}`, token)
		}
		out := e.ok(t, "DescribeRepositories", body)
		for _, r := range out["repositories"].([]any) {
			seen = append(seen, r.(map[string]any)["repositoryName"].(string))
		}
		next, _ := out["nextToken"].(string)
		if next == "" {
			break
		}
		token = next
	}
	if fmt.Sprint(seen) != "[a1 b2 c3-y c3/x d4]" {
		t.Fatalf("paged %v", seen)
	}
	cases := []struct {
		name, body, typ, msg string
	}{
		{"missing", `{"repositoryNames":["a1","nope"]}`, "RepositoryNotFoundException",
			"The repository with name 'nope' does not exist in the registry with id '123456789012'"},
		{"other registry", `{"registryId":"000000000001","repositoryNames":["a1"]}`, "RepositoryNotFoundException", "'000000000001'"},
		{"names and token", `{"repositoryNames":["a1"],"nextToken":"x"}`, "InvalidParameterException", "nextToken"},
		{"names and max", `{"repositoryNames":["a1"],"maxResults":5}`, "InvalidParameterException", "maxResults"},
		{"empty names", `{"repositoryNames":[]}`, "InvalidParameterException", "repositoryNames"},
		{"bad name", `{"repositoryNames":["A"]}`, "InvalidParameterException", "repositoryNames.1"},
		{"max 0", `{"maxResults":0}`, "InvalidParameterException", "maxResults"},
		{"max 1001", `{"maxResults":1001}`, "InvalidParameterException", "maxResults"},
		{"garbage token", `{"nextToken":"!!"}`, "InvalidParameterException", "nextToken"},
		{"token of another listing", fmt.Sprintf(`{"nextToken":%q}`, pageToken("ListImages/a1/ANY", "x")), "InvalidParameterException", "nextToken"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.fails(t, "DescribeRepositories", c.body, c.typ, c.msg) })
	}
	if got := e.ok(t, "DescribeRepositories", `{"registryId":"000000000001"}`)["repositories"].([]any); len(got) != 0 {
		t.Fatalf("another registry lists %v", got)
	}
	dup := e.ok(t, "DescribeRepositories", `{"repositoryNames":["d4","a1","d4"]}`)["repositories"].([]any)
	if len(dup) != 2 || dup[0].(map[string]any)["repositoryName"] != "d4" {
		t.Fatalf("named describe %v", dup)
	}
}

func TestDeleteRepository(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "full")
	e.createRepo(t, "empty")
	e.ok(t, "PutImage", fmt.Sprintf(`{"repositoryName":"full","imageTag":"v1","imageManifest":%q}`, manifest("one")))
	e.ok(t, "PutLifecyclePolicy", fmt.Sprintf(`{"repositoryName":"full","lifecyclePolicyText":%q}`, untaggedPolicy(1)))

	e.fails(t, "DeleteRepository", `{"repositoryName":"full"}`, "RepositoryNotEmptyException",
		"The repository with name 'full' in registry with id '123456789012' cannot be deleted because it still contains images")
	e.fails(t, "DeleteRepository", `{"repositoryName":"never"}`, "RepositoryNotFoundException", "'never'")

	out := e.ok(t, "DeleteRepository", `{"repositoryName":"empty"}`)
	if out["repository"].(map[string]any)["repositoryName"] != "empty" {
		t.Fatalf("deleted %v", out)
	}
	e.ok(t, "DeleteRepository", `{"repositoryName":"full","force":true}`)
	if len(e.images.digests("full")) != 0 || fmt.Sprint(e.images.deletedRepos) != "[empty full]" {
		t.Fatalf("registry still holds %v; DeleteRepository calls %v", e.images.digests("full"), e.images.deletedRepos)
	}
	if _, err := e.h.Repository(context.Background(), "full"); !errors.Is(err, registry.ErrRepositoryNotFound) {
		t.Fatalf("Repository after delete: %v", err)
	}
	// A new repository of the same name starts clean: no policy.
	e.createRepo(t, "full")
	e.fails(t, "GetLifecyclePolicy", `{"repositoryName":"full"}`, "LifecyclePolicyNotFoundException", "'full'")
}

func TestTagsAndMutability(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "web")
	arn := "arn:aws:ecr:eu-west-3:123456789012:repository/web"
	e.ok(t, "TagResource", fmt.Sprintf(`{"resourceArn":%q,"tags":[{"Key":"team","Value":"a"},{"Key":"env","Value":"dev"}]}`, arn))
	e.ok(t, "TagResource", fmt.Sprintf(`{"resourceArn":%q,"tags":[{"Key":"team","Value":"b"}]}`, arn))
	e.ok(t, "UntagResource", fmt.Sprintf(`{"resourceArn":%q,"tagKeys":["env","absent"]}`, arn))
	if got := fmt.Sprint(e.ok(t, "ListTagsForResource", fmt.Sprintf(`{"resourceArn":%q}`, arn))["tags"]); got != "[map[Key:team Value:b]]" {
		t.Fatalf("tags %s", got)
	}
	many := make([]string, 50)
	for i := range many {
		many[i] = fmt.Sprintf(`{"Key":"k%d","Value":"v"}`, i)
	}
	cases := []struct {
		name, op, body, typ, msg string
	}{
		{"not an arn", "ListTagsForResource", `{"resourceArn":"web"}`, "InvalidParameterException", "Invalid ARN"},
		{"not ecr", "TagResource", `{"resourceArn":"arn:aws:ecs:eu-west-3:123456789012:cluster/web","tags":[]}`, "InvalidParameterException", "Invalid ARN"},
		{"no repo", "ListTagsForResource", `{"resourceArn":"arn:aws:ecr:eu-west-3:123456789012:repository/nope"}`, "RepositoryNotFoundException", "'nope'"},
		{"other account", "ListTagsForResource", `{"resourceArn":"arn:aws:ecr:eu-west-3:000000000001:repository/web"}`, "RepositoryNotFoundException", "'000000000001'"},
		{"too many", "TagResource", fmt.Sprintf(`{"resourceArn":%q,"tags":[%s]}`, arn, strings.Join(many, ",")), "TooManyTagsException", "51"},
		{"reserved", "UntagResource", fmt.Sprintf(`{"resourceArn":%q,"tagKeys":["aws:x"]}`, arn), "InvalidTagParameterException", "aws:"},
		{"no tags", "TagResource", fmt.Sprintf(`{"resourceArn":%q}`, arn), "InvalidParameterException", "tags"},
		{"bad mutability", "PutImageTagMutability", `{"repositoryName":"web","imageTagMutability":"NO"}`, "InvalidParameterException", "enum"},
		{"mutability no repo", "PutImageTagMutability", `{"repositoryName":"nope","imageTagMutability":"MUTABLE"}`, "RepositoryNotFoundException", "'nope'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.fails(t, c.op, c.body, c.typ, c.msg) })
	}

	out := e.ok(t, "PutImageTagMutability", `{"repositoryName":"web","imageTagMutability":"IMMUTABLE"}`)
	if fmt.Sprint(out) != "map[imageTagMutability:IMMUTABLE registryId:123456789012 repositoryName:web]" {
		t.Fatalf("PutImageTagMutability: %v", out)
	}
	if s, err := e.h.Repository(context.Background(), "web"); err != nil || !s.ImmutableTags {
		t.Fatalf("Repository: %+v %v", s, err)
	}
	if got := fmt.Sprint(e.ok(t, "ListTagsForResource", fmt.Sprintf(`{"resourceArn":%q}`, arn))["tags"]); got != "[map[Key:team Value:b]]" {
		t.Fatalf("tags after mutability change %s", got)
	}
}

func TestGetAuthorizationToken(t *testing.T) {
	e := newEnv(t)
	e.h.scheme = func() string { return "https" }
	out := e.ok(t, "GetAuthorizationToken", `{"registryIds":["123456789012"]}`)
	data := out["authorizationData"].([]any)
	if len(data) != 1 {
		t.Fatalf("authorizationData %v", data)
	}
	d := data[0].(map[string]any)
	raw, err := base64.StdEncoding.DecodeString(d["authorizationToken"].(string))
	if err != nil || string(raw) != "AWS:pw-120000" {
		t.Fatalf("token %q %v", raw, err)
	}
	if d["proxyEndpoint"] != "https://127.0.0.1:8830" || d["expiresAt"] != float64(e.clock.Now().Add(12*60*60e9).Unix()) {
		t.Fatalf("data %v", d)
	}
	e.fails(t, "GetAuthorizationToken", `{"registryIds":["x"]}`, "InvalidParameterException", "registryIds")
}

func TestProtocolErrors(t *testing.T) {
	e := newEnv(t)
	_, err := e.call(t, "CreateCluster", `{}`)
	if err == nil || err.WireType() != "UnknownOperationException" || err.WireStatus() != http.StatusBadRequest {
		t.Fatalf("unknown op: %v", err)
	}
	e.fails(t, "ListImages", `{"repositoryName":"ab","maxResults":"ten"}`, "SerializationException", "'maxResults': expected a number")
	e.fails(t, "BatchGetImage", `{"repositoryName":"ab","imageIds":{}}`, "SerializationException", "'imageIds': expected a list")
	// An empty body is an empty request.
	e.ok(t, "DescribeRepositories", ``)

	// A store failure is a ServerException (500) that hides the cause from
	// the message but keeps it for the log.
	e.h.store.Close()
	_, err = e.call(t, "DescribeRepositories", `{}`)
	if err == nil || err.WireType() != "ServerException" || err.WireStatus() != http.StatusInternalServerError ||
		strings.Contains(err.Error(), "store") || errors.Unwrap(err) == nil {
		t.Fatalf("store failure: %v (cause %v)", err, errors.Unwrap(err))
	}
}

func TestCreateRepositoryRace(t *testing.T) {
	e := newEnv(t)
	const n = 8
	errs := make(chan wireErr, n)
	for range n {
		go func() {
			_, err := e.h.Call(context.Background(), "CreateRepository", []byte(`{"repositoryName":"contended"}`))
			we, _ := err.(wireErr)
			errs <- we
		}()
	}
	created := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			created++
		case err.WireType() != "RepositoryAlreadyExistsException":
			t.Errorf("unexpected %s: %v", err.WireType(), err)
		}
	}
	if created != 1 {
		t.Fatalf("%d creations succeeded, want 1", created)
	}
}
