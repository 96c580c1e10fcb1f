package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gorilla/websocket"

	"github.com/berth/berth/internal/agentproto"
)

// signingService is the SigV4 service name of the ECS API and both
// websockets.
const signingService = "ecs"

// emptyPayloadHash is the SHA-256 of an empty body.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// handshakeTimeout bounds one websocket upgrade.
const handshakeTimeout = 30 * time.Second

// ServerError is an exception the control plane answered with: a refused
// websocket upgrade or an exception frame on an open socket.
type ServerError struct {
	Type       string // e.g. InactiveInstanceException
	Message    string
	StatusCode int // HTTP status of a refused upgrade; 0 for a frame
}

func (e *ServerError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("%s (HTTP %d): %s", e.Type, e.StatusCode, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Type, e.Message)
}

// ErrInstanceInactive is returned by Run when the control plane says the
// container instance was deregistered.
var ErrInstanceInactive = errors.New("container instance is INACTIVE (deregistered)")

// isInactive reports whether err is the server's InactiveInstanceException.
func isInactive(err error) bool {
	var se *ServerError
	return errors.As(err, &se) && se.Type == agentproto.TypeInactiveInstanceException
}

// wsDialer opens SigV4-signed websockets to the control plane.
type wsDialer struct {
	creds  aws.Credentials
	region string
	tls    *tls.Config
	signer *v4.Signer
	now    func() time.Time
}

func newWSDialer(creds aws.Credentials, region string, tlsConf *tls.Config) *wsDialer {
	return &wsDialer{creds: creds, region: region, tls: tlsConf, signer: v4.NewSigner(), now: time.Now}
}

// socketURL returns base (an http(s) endpoint from DiscoverPollEndpoint)
// with "/" ensured, "ws" appended and the query set, as the real agent
// builds it; the query keys are sorted.
func socketURL(base string, query url.Values) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", base, err)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("endpoint %q: scheme must be http or https", base)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("endpoint %q has no host", base)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.Path += "ws"
	u.RawPath = ""
	u.RawQuery = query.Encode()
	return u, nil
}

// sign signs a GET of u with body's hash and returns the signed request's
// URL (the signer canonicalises the query) and its signing headers.
func (d *wsDialer) sign(ctx context.Context, u *url.URL, body []byte) (*url.URL, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	hash := emptyPayloadHash
	if len(body) > 0 {
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	if err := d.signer.SignHTTP(ctx, d.creds, req, hash, signingService, d.region, d.now()); err != nil {
		return nil, nil, fmt.Errorf("sign %s: %w", u.Redacted(), err)
	}
	h := http.Header{}
	h.Set("Authorization", req.Header.Get("Authorization"))
	h.Set("X-Amz-Date", req.Header.Get("X-Amz-Date"))
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	h.Set("Host", host)
	return req.URL, h, nil
}

// signFrame returns a TCS frame: the signing headers of a GET of u with
// payload as the body, a blank line, then payload.
func (d *wsDialer) signFrame(ctx context.Context, u *url.URL, payload []byte) ([]byte, error) {
	_, h, err := d.sign(ctx, u, payload)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Authorization: %s\r\n", h.Get("Authorization"))
	fmt.Fprintf(&b, "Host: %s\r\n", h.Get("Host"))
	fmt.Fprintf(&b, "X-Amz-Date: %s\r\n\r\n", h.Get("X-Amz-Date"))
	b.Write(payload)
	return b.Bytes(), nil
}

// dial signs and opens the websocket at u (http or https; the scheme
// becomes ws or wss). A refused upgrade returns a *ServerError when the
// body names an exception.
func (d *wsDialer) dial(ctx context.Context, u *url.URL) (*websocket.Conn, error) {
	signed, h, err := d.sign(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	h.Del("Host") // the dialer sends the URL's host
	wsu := *signed
	if wsu.Scheme == "https" {
		wsu.Scheme = "wss"
	} else {
		wsu.Scheme = "ws"
	}
	dialer := websocket.Dialer{
		HandshakeTimeout: handshakeTimeout,
		TLSClientConfig:  d.tls,
		Proxy:            http.ProxyFromEnvironment, // as the ECS API client (HTTPS_PROXY, NO_PROXY)
	}
	conn, resp, err := dialer.DialContext(ctx, wsu.String(), h)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			if se := parseServerError(body); se != nil {
				se.StatusCode = resp.StatusCode
				return nil, se
			}
			return nil, fmt.Errorf("websocket upgrade %s: HTTP %d: %s", u.Path, resp.StatusCode, strings.TrimSpace(string(body)))
		}
		return nil, fmt.Errorf("websocket dial %s: %w", u.Host, err)
	}
	return conn, nil
}

// parseServerError decodes an exception body in either form the real agent
// accepts: {"type":"X","message":{"message":"..."}} or {"X":"..."}.
func parseServerError(body []byte) *ServerError {
	var env struct {
		Type    string          `json:"type"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &env) == nil && env.Type != "" {
		se := &ServerError{Type: env.Type}
		var m agentproto.ErrorBody
		if json.Unmarshal(env.Message, &m) == nil && m.Message != "" {
			se.Message = m.Message
		} else {
			var s string
			if json.Unmarshal(env.Message, &s) == nil {
				se.Message = s
			}
		}
		return se
	}
	var flat map[string]json.RawMessage
	if json.Unmarshal(body, &flat) == nil && len(flat) == 1 {
		for k, v := range flat {
			if !strings.HasSuffix(k, "Exception") {
				return nil
			}
			se := &ServerError{Type: k}
			_ = json.Unmarshal(v, &se.Message)
			return se
		}
	}
	return nil
}

// isExceptionType reports whether a frame type names a server exception.
func isExceptionType(t string) bool { return strings.HasSuffix(t, "Exception") }
