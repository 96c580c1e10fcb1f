package api

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/berth/berth/internal/credential"
	"github.com/berth/berth/internal/ecs"
)

// AdminTargetPrefix is the X-Amz-Target prefix of Berth's own
// administrative operations (not part of ECS). They use the same protocol,
// signing and error shapes as the ECS API, and only administrator
// credentials may call them.
const AdminTargetPrefix = "BerthAdminV1."

// Credentials is what the admin operations need of the credential registry.
type Credentials interface {
	Create(ctx context.Context, c credential.Credential) error
	List(ctx context.Context) ([]credential.Credential, error)
	Delete(ctx context.Context, accessKeyID string) error
}

// CredentialInfo is a credential as the admin API shows it. The secret is
// only ever returned by CreateCredential.
type CredentialInfo struct {
	AccessKeyID     string  `json:"accessKeyId"`
	SecretAccessKey string  `json:"secretAccessKey,omitempty"`
	Name            string  `json:"name"`
	Admin           bool    `json:"admin"`
	CreatedAt       float64 `json:"createdAt"`
}

// CreateCredentialRequest asks for a new credential.
type CreateCredentialRequest struct {
	Name  string `json:"name"`
	Admin bool   `json:"admin"`
}

// CreateCredentialResponse carries the new credential, secret included.
type CreateCredentialResponse struct {
	Credential CredentialInfo `json:"credential"`
}

// ListCredentialsRequest lists every credential.
type ListCredentialsRequest struct{}

// ListCredentialsResponse lists credentials without their secrets.
type ListCredentialsResponse struct {
	Credentials []CredentialInfo `json:"credentials"`
}

// DeleteCredentialRequest names the credential to delete.
type DeleteCredentialRequest struct {
	AccessKeyID string `json:"accessKeyId"`
}

// DeleteCredentialResponse is empty.
type DeleteCredentialResponse struct{}

func adminOperations() map[string]operation {
	return map[string]operation{
		"CreateCredential": op((*Handler).createCredential),
		"ListCredentials":  op((*Handler).listCredentials),
		"DeleteCredential": op((*Handler).deleteCredential),
	}
}

func (h *Handler) requireAdmin(ctx context.Context) error {
	if p, _ := PrincipalFrom(ctx); !p.Admin {
		return ecs.Errorf(ecs.ErrAccessDenied, "Only an administrator credential may manage credentials.")
	}
	if h.creds == nil {
		return ecs.Errorf(ecs.ErrUnsupportedFeature, "This server has no credential registry.")
	}
	return nil
}

func credentialInfo(c credential.Credential, withSecret bool) CredentialInfo {
	info := CredentialInfo{AccessKeyID: c.AccessKeyID, Name: c.Name, Admin: c.Admin,
		CreatedAt: float64(c.CreatedAt.UnixMilli()) / 1000}
	if withSecret {
		info.SecretAccessKey = c.SecretAccessKey
	}
	return info
}

func (h *Handler) createCredential(ctx context.Context, in *CreateCredentialRequest) (*CreateCredentialResponse, error) {
	if err := h.requireAdmin(ctx); err != nil {
		return nil, err
	}
	c, err := credential.Generate(rand.Reader, in.Name, in.Admin, h.now().Truncate(time.Millisecond))
	if err != nil {
		return nil, err
	}
	if err := h.creds.Create(ctx, c); err != nil {
		return nil, err
	}
	return &CreateCredentialResponse{Credential: credentialInfo(c, true)}, nil
}

func (h *Handler) listCredentials(ctx context.Context, _ *ListCredentialsRequest) (*ListCredentialsResponse, error) {
	if err := h.requireAdmin(ctx); err != nil {
		return nil, err
	}
	list, err := h.creds.List(ctx)
	if err != nil {
		return nil, err
	}
	out := &ListCredentialsResponse{Credentials: []CredentialInfo{}}
	for _, c := range list {
		out.Credentials = append(out.Credentials, credentialInfo(c, false))
	}
	return out, nil
}

func (h *Handler) deleteCredential(ctx context.Context, in *DeleteCredentialRequest) (*DeleteCredentialResponse, error) {
	if err := h.requireAdmin(ctx); err != nil {
		return nil, err
	}
	if p, _ := PrincipalFrom(ctx); p.AccessKeyID == in.AccessKeyID {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "accessKeyId %s is the credential signing this request; delete it with another administrator credential.", in.AccessKeyID)
	}
	if err := h.creds.Delete(ctx, in.AccessKeyID); err != nil {
		return nil, err
	}
	return &DeleteCredentialResponse{}, nil
}
