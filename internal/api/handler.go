// Package api is Berth's ECS front door: the AWS JSON 1.1 protocol on POST /
// (X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Operation>), SigV4
// authentication of every request, dispatch to one handler per operation,
// and the single table that maps internal errors to ECS wire errors
// (awserr.go). Handlers decode wire structs (internal/api/wire), convert them
// to the domain model (internal/ecs), apply the pure rules there, and read
// or write records through internal/state.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/berth/berth/internal/api/awsjson"
	"github.com/berth/berth/internal/api/sigv4"
	"github.com/berth/berth/internal/clusterview"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/store"
)

// TargetPrefix is the X-Amz-Target prefix of the ECS API.
const TargetPrefix = "AmazonEC2ContainerServiceV20141113."

// maxBodyBytes bounds a request body. ECS's largest requests (task
// definitions) are far below this.
const maxBodyBytes = 4 << 20

// Principal is the authenticated caller of a request.
type Principal struct {
	AccessKeyID string
	Name        string // credential name
	Admin       bool
}

// Authenticator checks a request's signature and says who sent it. Errors
// it returns are mapped through the error table (awserr.go).
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request, body []byte) (Principal, error)
}

// Config configures a Handler.
type Config struct {
	Store store.Store
	// View, when set and running, serves whole-cluster reads (placement,
	// the service controller) instead of listing the store.
	View *clusterview.View
	// MaxTxnOps is the store's limit of ops per transaction (etcd's
	// --max-txn-ops); 0: none.
	MaxTxnOps int
	Namer     arn.Namer
	// Auth authenticates every request. Nil means no authentication, which
	// only the server's loudly-flagged insecure mode may choose.
	Auth   Authenticator
	Now    func() time.Time
	Logger *slog.Logger
	// Creds serves the admin operations (AdminTargetPrefix); nil disables them.
	Creds Credentials
	// Services are the other AWS JSON 1.1 APIs served at this front door,
	// by X-Amz-Target prefix (the ECR API).
	Services map[string]Service
}

// Service is another AWS JSON 1.1 API behind the same front door: requests
// whose X-Amz-Target starts with its prefix are authenticated as the ECS
// API's are and handed to Call with the operation's name. Errors that carry
// their own wire type (WireError) are written with it; others go through
// the error table.
type Service interface {
	Call(ctx context.Context, op string, body []byte) (any, error)
}

// WireError is an error that names its own AWS error type and HTTP status
// (a Service's errors).
type WireError interface {
	error
	WireType() string
	WireStatus() int
}

// Handler serves the ECS API.
type Handler struct {
	store store.Store
	view  *clusterview.View
	// maxTxnOps is Config.MaxTxnOps.
	maxTxnOps int
	namer     arn.Namer
	auth      Authenticator
	now       func() time.Time
	log       *slog.Logger
	ops       map[string]operation
	admin     map[string]operation
	creds     Credentials
	services  map[string]Service
	tdefs     *taskDefCache
	clusters  clusterCache
	// bases caches what placement derives from each instance.
	bases *placementBases
	// replays guards the admin operations against replayed requests.
	replays *replayGuard
}

// New builds a Handler.
func New(cfg Config) *Handler {
	h := &Handler{store: cfg.Store, view: cfg.View, maxTxnOps: cfg.MaxTxnOps, namer: cfg.Namer, auth: cfg.Auth, now: cfg.Now, log: cfg.Logger, creds: cfg.Creds, services: cfg.Services}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.ops = operations()
	h.admin = adminOperations()
	h.tdefs = newTaskDefCache()
	h.bases = newPlacementBases()
	h.replays = newReplayGuard()
	return h
}

// operation is one ECS operation: decode the body, act, return a response
// value to encode as JSON.
type operation func(h *Handler, ctx context.Context, body []byte) (any, error)

// rawJSON is a response an operation has already encoded; it is written as
// it is (json.Marshal would re-validate and re-compact it).
type rawJSON []byte

// op adapts a typed handler method to an operation.
func op[In, Out any](f func(h *Handler, ctx context.Context, in *In) (*Out, error)) operation {
	return func(h *Handler, ctx context.Context, body []byte) (any, error) {
		in := new(In)
		if err := awsjson.Decode(body, in); err != nil {
			return nil, err
		}
		return f(h, ctx, in)
	}
}

type principalKey struct{}

// PrincipalFrom returns the authenticated caller stored in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// ServeHTTP implements the AWS JSON 1.1 protocol.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	if r.Method != http.MethodPost {
		h.writeError(w, reqID, "", errUnknownOperation("Only POST / is served by the ECS API."))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		h.writeError(w, reqID, "", errSerialization("could not read the request body"))
		return
	}
	if len(body) > maxBodyBytes {
		h.writeError(w, reqID, "", errSerialization(fmt.Sprintf("request body is larger than %d bytes", maxBodyBytes)))
		return
	}
	ctx := withRequestOrigin(r.Context(), r)
	if h.auth != nil {
		p, err := h.auth.Authenticate(ctx, r, body)
		if err != nil {
			h.writeError(w, reqID, "", err)
			return
		}
		ctx = context.WithValue(ctx, principalKey{}, p)
	} else {
		ctx = context.WithValue(ctx, principalKey{}, Principal{Name: "anonymous", Admin: true})
	}
	target := r.Header.Get("X-Amz-Target")
	var f operation
	name, ok := strings.CutPrefix(target, TargetPrefix)
	if ok {
		f = h.ops[name]
	} else if name, ok = strings.CutPrefix(target, AdminTargetPrefix); ok {
		f = h.admin[name]
		// Only CreateCredential needs it: its answer carries a new secret.
		// Lists and deletes may be repeated (a script may send the same
		// signed call twice in one second).
		if name == "CreateCredential" && h.auth != nil && !h.replays.firstUse(r.Header.Get("Authorization"), h.now()) {
			h.writeError(w, reqID, name, &sigv4.Error{Kind: sigv4.ErrInvalidSignature,
				Msg: "This signed request was already used; administrative requests cannot be replayed. Sign a new request."})
			return
		}
	}
	if f == nil && !ok {
		for prefix, svc := range h.services {
			if name, ok = strings.CutPrefix(target, prefix); ok {
				f = func(_ *Handler, ctx context.Context, body []byte) (any, error) { return svc.Call(ctx, name, body) }
				break
			}
		}
	}
	if f == nil {
		h.writeError(w, reqID, name, errUnknownOperation(fmt.Sprintf("Unknown operation %q.", target)))
		return
	}
	out, err := f(h, ctx, body)
	if err != nil {
		h.writeError(w, reqID, name, err)
		return
	}
	var b []byte
	if raw, ok := out.(*rawJSON); ok {
		b = *raw
	} else {
		b, err = json.Marshal(out)
	}
	if err != nil {
		h.writeError(w, reqID, name, fmt.Errorf("encode response: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func (h *Handler) writeError(w http.ResponseWriter, reqID, opName string, err error) {
	we := toWire(err)
	if we.Status >= 500 {
		h.log.Error("request failed", "op", opName, "requestId", reqID, "err", err)
	} else {
		h.log.Debug("request rejected", "op", opName, "requestId", reqID, "type", we.Type, "err", err)
		var se *sigv4.Error
		if errors.As(err, &se) && se.Detail != "" {
			h.log.Debug("signature mismatch", "requestId", reqID, "canonical", se.Detail)
		}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", we.Type)
	w.WriteHeader(we.Status)
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{we.Type, we.Message})
	w.Write(b)
}

// ownARN reports whether ref is a bare name or an ARN of this server's
// region and account (an ARN of elsewhere names nothing here).
func (h *Handler) ownARN(ref string) bool {
	if !arn.IsARN(ref) {
		return true
	}
	a, err := arn.Parse(ref)
	return err == nil && a.Region == h.namer.Region && a.Account == h.namer.Account
}

func newRequestID() string { return uuid.NewString() }
