package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/berth/berth/internal/api"
	"github.com/berth/berth/internal/api/sigv4"
	"github.com/berth/berth/internal/credential"
	"github.com/berth/berth/internal/ecr"
)

// authenticator verifies SigV4 signatures against Berth's credentials and
// names the caller. Requests are signed for the API they address: "ecs"
// (the ECS API, the agent channel), or "ecr" for the ECR API's targets.
type authenticator struct {
	ecs, ecr *sigv4.Verifier
	creds    *credential.Registry
}

func newAuthenticator(creds *credential.Registry, region string, now func() time.Time) *authenticator {
	return &authenticator{
		ecs:   &sigv4.Verifier{Lookup: creds, Region: region, Service: "ecs", Now: now},
		ecr:   &sigv4.Verifier{Lookup: creds, Region: region, Service: "ecr", Now: now},
		creds: creds,
	}
}

func (a *authenticator) Authenticate(ctx context.Context, r *http.Request, body []byte) (api.Principal, error) {
	v := a.ecs
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), ecr.TargetPrefix) {
		v = a.ecr
	}
	id, err := v.Verify(ctx, r, body)
	if err != nil {
		return api.Principal{}, err
	}
	c, err := a.creds.Lookup(ctx, id.AccessKeyID)
	if errors.Is(err, credential.ErrNotFound) {
		// Deleted between the signature check and now.
		return api.Principal{}, &sigv4.Error{Kind: sigv4.ErrUnrecognizedClient, Msg: "The security token included in the request is invalid."}
	}
	if err != nil {
		return api.Principal{}, err
	}
	return api.Principal{AccessKeyID: c.AccessKeyID, Name: c.Name, Admin: c.Admin}, nil
}
