package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/berth/berth/internal/credential"
)

const (
	testAKID   = "BKIATESTAAAAAAAAAAAA"
	testSecret = "testSecretKey/0123456789+abcdefghijklmnop"
	testRegion = "us-east-1"
	brokenAKID = "BKIABROKENSTOREAAAAA"
	target     = "AmazonEC2ContainerServiceV20141113."
)

// lookup is a fixed SecretLookup; brokenAKID fails like an unreachable store.
type lookup map[string]string

func (l lookup) SecretKey(_ context.Context, id string) (string, error) {
	if id == brokenAKID {
		return "", errors.New("store unavailable")
	}
	s, ok := l[id]
	if !ok {
		return "", fmt.Errorf("%w: %s", credential.ErrNotFound, id)
	}
	return s, nil
}

var (
	signTime = time.Date(2024, 1, 1, 0, 31, 0, 0, time.UTC)
	testKeys = lookup{testAKID: testSecret}
)

func newVerifier(now time.Time) *Verifier {
	return &Verifier{Lookup: testKeys, Region: testRegion, Service: "ecs", Now: func() time.Time { return now }}
}

// jsonCall is a client-side ECS JSON 1.1 request as the SDKs build it.
func jsonCall(t testing.TB, op, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target+op)
	return req
}

// wsUpgrade is a client-side GET without a body, shaped like the agent's
// websocket upgrade.
func wsUpgrade(t testing.TB) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet,
		"http://127.0.0.1:8080/ws?clusterArn=default&dockerVersion=DockerVersion%3A+20.10.24%2Bdfsg1&seqNum=1&sendCredentials=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func payloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// sdkSign signs req with aws-sdk-go-v2's signer, as the SDK's middleware does.
func sdkSign(t testing.TB, req *http.Request, body []byte, akid, secret, region, service string, at time.Time) {
	t.Helper()
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret},
		req, payloadHash(body), service, region, at)
	if err != nil {
		t.Fatal(err)
	}
}

// signSDK signs with the test credential at signTime.
func signSDK(t testing.TB, req *http.Request, body string) {
	t.Helper()
	sdkSign(t, req, []byte(body), testAKID, testSecret, testRegion, "ecs", signTime)
}

// signBotocoreShape signs the way botocore does: content-length is not a
// signed header although the request has a body.
func signBotocoreShape(t testing.TB, req *http.Request, body string) {
	t.Helper()
	n := req.ContentLength
	req.ContentLength = 0
	signSDK(t, req, body)
	req.ContentLength = n
}

func setBody(req *http.Request, body string) {
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
}

// toServer sends req through the wire format and parses it back the way
// net/http's server does, returning the server's view and the body.
func toServer(t testing.TB, req *http.Request) (*http.Request, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return parseRaw(t, buf.Bytes())
}

func parseRaw(t testing.TB, raw []byte) (*http.Request, []byte) {
	t.Helper()
	sr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(sr.Body)
	if err != nil {
		t.Fatal(err)
	}
	return sr, body
}

// refSign is an independent, minimal SigV4 signer written from the AWS
// specification, used for requests the SDK signer cannot produce (chosen
// signed headers, unsigned host, odd scopes). scopeDate, region and service
// go into the credential scope verbatim.
func refSign(req *http.Request, body []byte, signed []string, akid, secret, scopeDate, region, service string) {
	amzDate := req.Header.Get("X-Amz-Date")
	var ch strings.Builder
	for _, name := range signed {
		val := req.Host
		if val == "" {
			val = req.URL.Host
		}
		if name != "host" {
			var vals []string
			for _, v := range req.Header.Values(name) {
				vals = append(vals, strings.Join(strings.Fields(v), " "))
			}
			val = strings.Join(vals, ",")
		}
		fmt.Fprintf(&ch, "%s:%s\n", name, val)
	}
	var pairs []string
	for k, vs := range req.URL.Query() {
		for _, v := range vs {
			pairs = append(pairs, awsEscape(k)+"="+awsEscape(v))
		}
	}
	sort.Strings(pairs)
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	canonical := strings.Join([]string{req.Method, path, strings.Join(pairs, "&"), ch.String(),
		strings.Join(signed, ";"), payloadHash(body)}, "\n")
	scope := strings.Join([]string{scopeDate, region, service, "aws4_request"}, "/")
	sts := strings.Join([]string{"AWS4-HMAC-SHA256", amzDate, scope, payloadHash([]byte(canonical))}, "\n")
	key := []byte("AWS4" + secret)
	for _, part := range []string{scopeDate, region, service, "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	req.Header.Set("Authorization", fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%x",
		akid, scope, strings.Join(signed, ";"), hmacSHA256(key, sts)))
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func awsEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// refSigned builds a client-side JSON call signed by refSign with the given
// signed headers at signTime.
func refSigned(t testing.TB, signed []string, scopeDate, region, service string) *http.Request {
	t.Helper()
	body := `{"cluster":"default"}`
	req := jsonCall(t, "ListServices", body)
	req.Header.Set("X-Amz-Date", signTime.Format(timeFormat))
	refSign(req, []byte(body), signed, testAKID, testSecret, scopeDate, region, service)
	return req
}

// TestAWSDocumentedVector verifies the worked example of AWS's SigV4
// documentation (IAM ListUsers, 2015-08-30), whose signature is published.
func TestAWSDocumentedVector(t *testing.T) {
	raw := "GET /?Action=ListUsers&Version=2010-05-08 HTTP/1.1\r\n" +
		"Host: iam.amazonaws.com\r\n" +
		"Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n" +
		"X-Amz-Date: 20150830T123600Z\r\n" +
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, " +
		"SignedHeaders=content-type;host;x-amz-date, " +
		"Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7\r\n\r\n"
	r, body := parseRaw(t, []byte(raw))
	v := &Verifier{
		Lookup:  lookup{"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
		Region:  "us-east-1",
		Service: "iam",
		Now:     func() time.Time { return time.Date(2015, 8, 30, 12, 40, 0, 0, time.UTC) },
	}
	id, err := v.Verify(context.Background(), r, body)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id.AccessKeyID != "AKIDEXAMPLE" {
		t.Fatalf("identity %q", id.AccessKeyID)
	}
	// The reference signer reproduces the published signature too.
	req, _ := http.NewRequest(http.MethodGet, "http://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("X-Amz-Date", "20150830T123600Z")
	refSign(req, nil, []string{"content-type", "host", "x-amz-date"}, "AKIDEXAMPLE",
		"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam")
	if !strings.HasSuffix(req.Header.Get("Authorization"), "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7") {
		t.Fatalf("reference signer disagrees with AWS's example: %s", req.Header.Get("Authorization"))
	}
}

func TestVerify(t *testing.T) {
	const listBody = `{"maxResults":10}`
	tests := []struct {
		name     string
		build    func(t *testing.T) *http.Request // client side, signed
		raw      string                           // or a raw request instead of build
		verifier func(v *Verifier)
		now      time.Time // zero means signTime
		wantKind error     // nil: must verify
		wantMsg  string    // exact client message, when set
	}{
		{name: "sdk POST with JSON body", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signSDK(t, r, listBody)
			if !strings.Contains(r.Header.Get("Authorization"), "content-length") {
				t.Fatal("the SDK signer was expected to sign content-length")
			}
			return r
		}},
		{name: "sdk GET without body, with query", build: func(t *testing.T) *http.Request {
			r := wsUpgrade(t)
			signSDK(t, r, "")
			r.Header.Set("Connection", "Upgrade") // unsigned, added after signing
			r.Header.Set("Upgrade", "websocket")
			return r
		}},
		{name: "sdk POST with signed X-Amz-Content-Sha256", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			r.Header.Set("X-Amz-Content-Sha256", payloadHash([]byte(listBody)))
			signSDK(t, r, listBody)
			return r
		}},
		{name: "signed X-Amz-Content-Sha256 not matching body", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			r.Header.Set("X-Amz-Content-Sha256", payloadHash([]byte("other")))
			sdkSignWithHash(t, r, payloadHash([]byte("other")))
			return r
		}, wantKind: ErrInvalidSignature, wantMsg: msgBadSignature},
		{name: "botocore shape: content-length not signed", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signBotocoreShape(t, r, listBody)
			if got := signedHeadersOf(r); got != "content-type;host;x-amz-date;x-amz-target" {
				t.Fatalf("signed headers %q", got)
			}
			return r
		}},
		{name: "user-agent and a repeated header signed", build: func(t *testing.T) *http.Request {
			body := `{"cluster":"default"}`
			r := jsonCall(t, "ListServices", body)
			r.Header.Set("User-Agent", "custom-client/1.0  (extra   spaces)")
			r.Header.Add("X-Custom", "a")
			r.Header.Add("X-Custom", " b ")
			r.Header.Set("X-Amz-Date", signTime.Format(timeFormat))
			refSign(r, []byte(body), []string{"content-type", "host", "user-agent", "x-amz-date", "x-amz-target", "x-custom"},
				testAKID, testSecret, "20240101", testRegion, "ecs")
			return r
		}},
		{name: "signed header absent from the request", build: func(t *testing.T) *http.Request {
			return refSigned(t, []string{"host", "x-amz-date", "x-not-sent"}, "20240101", testRegion, "ecs")
		}},
		{name: "host with default port added after signing", build: func(t *testing.T) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "http://ecs.example.com/", strings.NewReader(listBody))
			r.Header.Set("X-Amz-Target", target+"ListClusters")
			signSDK(t, r, listBody)
			r.Host = "ecs.example.com:80"
			return r
		}},
		{name: "tampered body", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signBotocoreShape(t, r, listBody)
			setBody(r, `{"maxResults":11}`)
			return r
		}, wantKind: ErrInvalidSignature, wantMsg: msgBadSignature},
		{name: "tampered signed header", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signSDK(t, r, listBody)
			r.Header.Set("X-Amz-Target", target+"DeleteCluster")
			return r
		}, wantKind: ErrInvalidSignature},
		{name: "tampered query", build: func(t *testing.T) *http.Request {
			r := wsUpgrade(t)
			signSDK(t, r, "")
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "clusterArn=default", "clusterArn=prod", 1)
			return r
		}, wantKind: ErrInvalidSignature},
		{name: "tampered path", build: func(t *testing.T) *http.Request {
			r := wsUpgrade(t)
			signSDK(t, r, "")
			r.URL.Path = "/other"
			return r
		}, wantKind: ErrInvalidSignature},
		{name: "tampered method", build: func(t *testing.T) *http.Request {
			r := wsUpgrade(t)
			signSDK(t, r, "")
			r.Method = http.MethodDelete
			return r
		}, wantKind: ErrInvalidSignature},
		{name: "unsigned header changed and added", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signSDK(t, r, listBody)
			r.Header.Set("User-Agent", "changed/1.0")
			r.Header.Set("X-Forwarded-For", "10.0.0.1")
			return r
		}},
		{name: "wrong secret", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			sdkSign(t, r, []byte(listBody), testAKID, "notTheSecret/0123456789+abcdefghijklmnop", testRegion, "ecs", signTime)
			return r
		}, wantKind: ErrInvalidSignature, wantMsg: "The request signature we calculated does not match the signature you provided. " +
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."},
		{name: "unknown access key", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			sdkSign(t, r, []byte(listBody), "BKIAUNKNOWNAAAAAAAAA", testSecret, testRegion, "ecs", signTime)
			return r
		}, wantKind: ErrUnrecognizedClient, wantMsg: "The security token included in the request is invalid."},
		{name: "security token", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			err := v4.NewSigner().SignHTTP(context.Background(),
				aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: "token"},
				r, payloadHash([]byte(listBody)), "ecs", testRegion, signTime)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}, wantKind: ErrUnrecognizedClient, wantMsg: msgSecurityToken},
		{name: "no Authorization header", build: func(t *testing.T) *http.Request {
			return jsonCall(t, "ListClusters", listBody)
		}, wantKind: ErrMissingAuthenticationToken, wantMsg: "Missing Authentication Token"},
		{name: "non-SigV4 Authorization", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			r.Header.Set("Authorization", "Bearer abc")
			return r
		}, wantKind: ErrMissingAuthenticationToken, wantMsg: "Missing Authentication Token"},
		{name: "algorithm only", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			r.Header.Set("X-Amz-Date", signTime.Format(timeFormat))
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256")
			return r
		}, wantKind: ErrIncompleteSignature, wantMsg: "Authorization header requires 'Credential' parameter. " +
			"Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. " +
			"Authorization=AWS4-HMAC-SHA256"},
		{name: "missing Signature and date", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host")
			return r
		}, wantKind: ErrIncompleteSignature, wantMsg: "Authorization header requires 'Signature' parameter. " +
			"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. " +
			"Authorization=AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host"},
		{name: "missing X-Amz-Date", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signSDK(t, r, listBody)
			r.Header.Del("X-Amz-Date")
			return r
		}, wantKind: ErrIncompleteSignature},
		{name: "only a Date header", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signSDK(t, r, listBody)
			r.Header.Del("X-Amz-Date")
			r.Header.Set("Date", signTime.Format(http.TimeFormat))
			return r
		}, wantKind: ErrIncompleteSignature, wantMsg: msgOnlyDate},
		{name: "malformed X-Amz-Date", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signSDK(t, r, listBody)
			r.Header.Set("X-Amz-Date", "2024-01-01T00:31:00Z")
			return r
		}, wantKind: ErrIncompleteSignature,
			wantMsg: "Date must be in ISO-8601 'basic format'. Got '2024-01-01T00:31:00Z'. See http://en.wikipedia.org/wiki/ISO_8601"},
		{name: "X-Amz-Date with an impossible hour", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signSDK(t, r, listBody)
			r.Header.Set("X-Amz-Date", "20240101T3100Z")
			return r
		}, wantKind: ErrIncompleteSignature},
		{name: "parameter without equal sign", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signSDK(t, r, listBody)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Signature=b, Credential, SignedHeaders=host")
			return r
		}, wantKind: ErrIncompleteSignature, wantMsg: "'Credential' not a valid key=value pair (missing equal-sign) " +
			"in Authorization header: 'AWS4-HMAC-SHA256 Signature=b, Credential, SignedHeaders=host'."},
		{name: "two Authorization headers", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signSDK(t, r, listBody)
			r.Header.Add("Authorization", r.Header.Get("Authorization"))
			return r
		}, wantKind: ErrIncompleteSignature},
		{name: "unsupported algorithm", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signSDK(t, r, listBody)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1))
			return r
		}, wantKind: ErrIncompleteSignature, wantMsg: "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now). "},
		{name: "credential with four elements", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signSDK(t, r, listBody)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-east-1/", "/", 1))
			return r
		}, wantKind: ErrIncompleteSignature, wantMsg: "Credential must have exactly 5 slash-delimited elements, " +
			"e.g. keyid/date/region/service/term, got '" + testAKID + "/20240101/ecs/aws4_request'"},
		{name: "expired", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			sdkSign(t, r, []byte(listBody), testAKID, testSecret, testRegion, "ecs", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
			return r
		}, wantKind: ErrSignatureExpired,
			wantMsg: "Signature expired: 20240101T000000Z is now earlier than 20240101T001600Z (20240101T003100Z - 15 min.)"},
		{name: "not yet current", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			sdkSign(t, r, []byte(listBody), testAKID, testSecret, testRegion, "ecs", time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC))
			return r
		}, wantKind: ErrSignatureExpired,
			wantMsg: "Signature not yet current: 20240101T010000Z is still later than 20240101T004600Z (20240101T003100Z + 15 min.)"},
		{name: "exactly MaxSkew old is still valid", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signSDK(t, r, listBody)
			return r
		}, now: signTime.Add(15 * time.Minute)},
		{name: "custom MaxSkew", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signSDK(t, r, listBody)
			return r
		}, verifier: func(v *Verifier) { v.MaxSkew = 5 * time.Minute }, now: signTime.Add(6 * time.Minute),
			wantKind: ErrSignatureExpired,
			wantMsg:  "Signature expired: 20240101T003100Z is now earlier than 20240101T003200Z (20240101T003700Z - 5 min.)"},
		{name: "wrong region", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			sdkSign(t, r, []byte(listBody), testAKID, testSecret, "eu-west-1", "ecs", signTime)
			return r
		}, wantKind: ErrInvalidSignature, wantMsg: "Credential should be scoped to a valid region, not 'eu-west-1'. "},
		{name: "any region when Region is empty", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			sdkSign(t, r, []byte(listBody), testAKID, testSecret, "eu-west-1", "ecs", signTime)
			return r
		}, verifier: func(v *Verifier) { v.Region = "" }},
		{name: "wrong service", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			sdkSign(t, r, []byte(listBody), testAKID, testSecret, testRegion, "s3", signTime)
			return r
		}, wantKind: ErrInvalidSignature, wantMsg: "Credential should be scoped to correct service: 'ecs'. "},
		{name: "wrong scope terminator and date", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			signSDK(t, r, listBody)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "20240101/us-east-1/ecs/aws4_request",
				"20231231/us-east-1/ecs/aws5_request", 1))
			return r
		}, wantKind: ErrInvalidSignature, wantMsg: "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. " +
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20231231' != '20240101', from '20240101T003100Z'."},
		{name: "host not signed", build: func(t *testing.T) *http.Request {
			return refSigned(t, []string{"content-type", "x-amz-date", "x-amz-target"}, "20240101", testRegion, "ecs")
		}, wantKind: ErrInvalidSignature, wantMsg: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		{name: "x-amz-date not signed", build: func(t *testing.T) *http.Request {
			return refSigned(t, []string{"content-type", "host", "x-amz-target"}, "20240101", testRegion, "ecs")
		}, wantKind: ErrInvalidSignature, wantMsg: msgDateNotSigned},
		{name: "store failure is not a client error", build: func(t *testing.T) *http.Request {
			r := jsonCall(t, "ListClusters", listBody)
			sdkSign(t, r, []byte(listBody), brokenAKID, testSecret, testRegion, "ecs", signTime)
			return r
		}, wantKind: errServer},
		{name: "presigned query only", build: func(t *testing.T) *http.Request {
			r := wsUpgrade(t)
			r.URL.RawQuery += "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc"
			return r
		}, wantKind: ErrIncompleteSignature, wantMsg: msgPresign},
		{name: "presigned query and Authorization header", build: func(t *testing.T) *http.Request {
			r := wsUpgrade(t)
			signSDK(t, r, "")
			r.URL.RawQuery += "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
			return r
		}, wantKind: ErrInvalidSignature, wantMsg: msgBothAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := toServer(t, tt.build(t))
			now := tt.now
			if now.IsZero() {
				now = signTime
			}
			v := newVerifier(now)
			if tt.verifier != nil {
				tt.verifier(v)
			}
			id, err := v.Verify(context.Background(), r, body)
			checkResult(t, id, err, tt.wantKind, tt.wantMsg)
		})
	}
}

// errServer marks cases whose error must not be a client (*Error) error.
var errServer = errors.New("server error")

func checkResult(t *testing.T, id Identity, err error, wantKind error, wantMsg string) {
	t.Helper()
	var verr *Error
	switch {
	case wantKind == nil:
		if err != nil {
			if errors.As(err, &verr) {
				t.Fatalf("Verify: %v\n%s", err, verr.Detail)
			}
			t.Fatalf("Verify: %v", err)
		}
		if id.AccessKeyID != testAKID {
			t.Fatalf("identity %q, want %q", id.AccessKeyID, testAKID)
		}
	case wantKind == errServer:
		if err == nil || errors.As(err, &verr) {
			t.Fatalf("got %v, want a non-client error", err)
		}
	default:
		if !errors.Is(err, wantKind) {
			t.Fatalf("got %v, want kind %v", err, wantKind)
		}
		if !errors.As(err, &verr) {
			t.Fatalf("error %T is not *Error", err)
		}
		if wantMsg != "" && err.Error() != wantMsg {
			t.Fatalf("message\n got %q\nwant %q", err.Error(), wantMsg)
		}
		if id != (Identity{}) {
			t.Fatalf("identity %+v returned with an error", id)
		}
	}
}

// sdkSignWithHash signs with an arbitrary payload hash (as a client that
// lies about its body would).
func sdkSignWithHash(t *testing.T, req *http.Request, hash string) {
	t.Helper()
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret},
		req, hash, "ecs", testRegion, signTime)
	if err != nil {
		t.Fatal(err)
	}
}

func signedHeadersOf(r *http.Request) string {
	a, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return err.Error()
	}
	return a.SignedHeaders
}

// TestReplay: AWS accepts an identical signed request again while its date
// is inside the skew window, and rejects it as expired afterwards.
func TestReplay(t *testing.T) {
	body := `{"cluster":"default","taskDefinition":"web:1"}`
	req := jsonCall(t, "RunTask", body)
	signSDK(t, req, body)
	var raw bytes.Buffer
	if err := req.Write(&raw); err != nil {
		t.Fatal(err)
	}
	now := signTime
	v := newVerifier(signTime)
	v.Now = func() time.Time { return now }
	for _, step := range []struct {
		at   time.Time
		want error
	}{
		{signTime, nil},
		{signTime.Add(time.Second), nil},                                  // an SDK retry
		{signTime.Add(14 * time.Minute), nil},                             // still inside the window
		{signTime.Add(15*time.Minute + time.Second), ErrSignatureExpired}, // replay after the window
	} {
		now = step.at
		r, b := parseRaw(t, raw.Bytes())
		id, err := v.Verify(context.Background(), r, b)
		checkResult(t, id, err, step.want, "")
	}
}

// TestMismatchDetail: a signature mismatch explains itself to the server
// log (never to the client).
func TestMismatchDetail(t *testing.T) {
	req := jsonCall(t, "ListClusters", `{}`)
	signBotocoreShape(t, req, `{}`)
	setBody(req, `{"x":1}`)
	r, body := toServer(t, req)
	_, err := newVerifier(signTime).Verify(context.Background(), r, body)
	var verr *Error
	if !errors.As(err, &verr) {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{"CANONICAL STRING", "x-amz-target:" + target + "ListClusters", payloadHash([]byte(`{"x":1}`))} {
		if !strings.Contains(verr.Detail, want) {
			t.Errorf("detail lacks %q:\n%s", want, verr.Detail)
		}
	}
	if strings.Contains(verr.Error(), "CANONICAL") {
		t.Errorf("client message leaks the canonical request: %s", verr.Error())
	}
}

func TestVerifierDefaults(t *testing.T) {
	req := jsonCall(t, "ListClusters", `{}`)
	sdkSign(t, req, []byte(`{}`), testAKID, testSecret, testRegion, "ecs", time.Now())
	r, body := toServer(t, req)
	// Zero Service, MaxSkew, Now and Region: "ecs", 15 minutes, the real clock, any region.
	v := &Verifier{Lookup: testKeys}
	if _, err := v.Verify(context.Background(), r, body); err != nil {
		t.Fatalf("Verify with defaults: %v", err)
	}
	if _, err := (&Verifier{}).Verify(context.Background(), r, body); err == nil {
		t.Fatal("a Verifier without Lookup must fail")
	}
}

func TestVerifyURLEscapes(t *testing.T) {
	// Paths and queries with characters the canonical form escapes.
	for _, target := range []string{
		"http://127.0.0.1:8080/v1/tasks/a%20b?x=1&y=a+b&z=%2F",
		"http://127.0.0.1:8080/ws?empty=&k=v1&k=v0",
		"http://127.0.0.1:8080/caf%C3%A9/~user?q=%E2%9C%93",
	} {
		t.Run(target, func(t *testing.T) {
			u, err := url.Parse(target)
			if err != nil {
				t.Fatal(err)
			}
			req := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{}}
			signSDK(t, req, "")
			r, body := toServer(t, req)
			id, err := newVerifier(signTime).Verify(context.Background(), r, body)
			checkResult(t, id, err, nil, "")
		})
	}
}
