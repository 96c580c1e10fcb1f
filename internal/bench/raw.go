package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The AWS JSON 1.1 protocol as ECS speaks it.
const (
	jsonContentType = "application/x-amz-json-1.1"
	targetPrefix    = "AmazonEC2ContainerServiceV20141113."
	signingService  = "ecs"
)

// rawBody is a request body marshalled once, with its SHA-256 (hex) for
// signing.
type rawBody struct {
	body []byte
	hash string
}

func newRawBody(b []byte) rawBody {
	sum := sha256.Sum256(b)
	return rawBody{body: b, hash: hex.EncodeToString(sum[:])}
}

// describeRequest is the DescribeTaskDefinition request body.
type describeRequest struct {
	TaskDefinition string `json:"taskDefinition"`
}

// listRequest is the ListTaskDefinitions request body.
type listRequest struct {
	MaxResults int    `json:"maxResults"`
	Status     string `json:"status"`
}

// rawDescribe is the prebuilt describe of one reference.
type rawDescribe struct {
	rawBody
	family string
}

// rawClient sends hand-built AWS JSON 1.1 requests over the shared HTTP
// client, signed with one shared SigV4 signer (which caches the derived
// signing key), and checks each answer with a targeted scan of its body.
type rawClient struct {
	hc     *http.Client
	url    string // the endpoint, with a path
	signer *v4.Signer
	creds  aws.Credentials
	region string
	now    func() time.Time

	// describes[f][rev] describes revision rev of family f, rev 0 its
	// latest; registers holds the bodies the measured registrations send,
	// by family; others are marshalled when needed.
	describes [][]rawDescribe
	registers map[string]rawBody
	listBody  rawBody
	wantList  int
	capture   capturer

	bufs sync.Pool // *bytes.Buffer for answers
}

// newRawClient prebuilds the request bodies of cfg's data set and of the
// registrations of its clients.
func newRawClient(ctx context.Context, cfg Config, hc *http.Client) (*rawClient, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("bench: endpoint %q: %w", cfg.Endpoint, err)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	c := &rawClient{
		hc: hc, url: u.String(), signer: v4.NewSigner(), region: cfg.Region, now: cfg.Now,
		creds:     aws.Credentials{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.Secret, Source: "bench"},
		describes: make([][]rawDescribe, cfg.Families),
		wantList:  minListed(cfg),
		capture:   newCapturer(cfg),
		bufs:      sync.Pool{New: func() any { return new(bytes.Buffer) }},
	}
	for f := range cfg.Families {
		fam := familyName(cfg.FamilyPrefix, f)
		c.describes[f] = make([]rawDescribe, cfg.Revisions+1)
		for rev := range cfg.Revisions + 1 {
			ref := fam
			if rev > 0 {
				ref += ":" + strconv.Itoa(rev)
			}
			b, err := json.Marshal(describeRequest{TaskDefinition: ref})
			if err != nil {
				return nil, fmt.Errorf("bench: marshal a describe: %w", err)
			}
			c.describes[f][rev] = rawDescribe{rawBody: newRawBody(b), family: fam}
		}
	}
	b, err := json.Marshal(listRequest{MaxResults: listPageSize, Status: "ACTIVE"})
	if err != nil {
		return nil, fmt.Errorf("bench: marshal a listing: %w", err)
	}
	c.listBody = newRawBody(b)
	if slices.Contains(cfg.Ops, OpRegister) {
		c.registers = make(map[string]rawBody, cfg.Concurrency)
		for w := range cfg.Concurrency {
			fam := workerFamily(cfg.FamilyPrefix, w)
			req, err := c.capture.register(ctx, fam, 1)
			if err != nil {
				return nil, err
			}
			c.registers[fam] = newRawBody(req.body)
		}
	}
	return c, nil
}

func (c *rawClient) register(ctx context.Context, family string, revision int) error {
	body, ok := c.registers[family]
	if !ok || revision != 1 {
		req, err := c.capture.register(ctx, family, revision)
		if err != nil {
			return err
		}
		body = newRawBody(req.body)
	}
	return c.call(ctx, "RegisterTaskDefinition", body, func(doc []byte) error {
		arn, err := stringField(doc, "taskDefinitionArn")
		if err != nil {
			return err
		}
		return checkTaskDefARN(string(arn), family, 0)
	})
}

func (c *rawClient) describe(ctx context.Context, f, rev int) error {
	if f < 0 || f >= len(c.describes) || rev < 0 || rev >= len(c.describes[f]) {
		return fmt.Errorf("describe: family %d revision %d is outside the data set", f, rev)
	}
	d := &c.describes[f][rev]
	return c.call(ctx, "DescribeTaskDefinition", d.rawBody, func(doc []byte) error {
		arn, err := stringField(doc, "taskDefinitionArn")
		if err != nil {
			return err
		}
		return checkTaskDefARN(string(arn), d.family, rev)
	})
}

func (c *rawClient) list(ctx context.Context) error {
	return c.call(ctx, "ListTaskDefinitions", c.listBody, func(doc []byte) error {
		n, err := eachString(doc, "taskDefinitionArns", func(arn []byte) error {
			return checkListedARN(arn)
		})
		if err != nil {
			return err
		}
		return checkListCount(n, c.wantList)
	})
}

// call sends one signed request of op with body and has check judge the
// body of a 200 answer; any other status is an error.
func (c *rawClient) call(ctx context.Context, op string, body rawBody, check func([]byte) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body.body))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req.Header = http.Header{"Content-Type": {jsonContentType}, "X-Amz-Target": {targetPrefix + op}}
	if err := c.signer.SignHTTP(ctx, c.creds, req, body.hash, signingService, c.region, c.now()); err != nil {
		return fmt.Errorf("%s: sign: %w", op, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	buf := c.bufs.Get().(*bytes.Buffer)
	defer c.bufs.Put(buf)
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("%s: read the answer: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %w", op, answerError(resp.StatusCode, buf.Bytes()))
	}
	if err := check(buf.Bytes()); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}
