package api

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// Principals. Each Berth credential acts as the IAM user named after it;
// the account root stands for the account-wide defaults.

func (h *Handler) rootPrincipal() string { return "arn:aws:iam::" + h.namer.Account + ":root" }

func (h *Handler) callerPrincipal(ctx context.Context) string {
	p, _ := PrincipalFrom(ctx)
	if p.Name == "" {
		return h.rootPrincipal()
	}
	return "arn:aws:iam::" + h.namer.Account + ":user/" + p.Name
}

// principalARN matches the IAM principals settings can belong to: the
// account root, or one user or role (names as IAM allows them; a path is
// not part of the key, so it is refused rather than misread).
var principalARN = regexp.MustCompile(`^arn:aws:iam::[0-9]{12}:(root|(user|role)/[A-Za-z0-9+=,.@_-]{1,64})$`)

// principalFor resolves the principalArn of a request: the caller when
// empty; another principal only for administrators.
func (h *Handler) principalFor(ctx context.Context, arnIn string) (string, error) {
	self := h.callerPrincipal(ctx)
	if arnIn == "" || arnIn == self {
		return self, nil
	}
	if !principalARN.MatchString(arnIn) || !strings.HasPrefix(arnIn, "arn:aws:iam::"+h.namer.Account+":") {
		return "", ecs.Errorf(ecs.ErrInvalidParameter, "principalArn %q is not an IAM user, role or root ARN of account %s.", arnIn, h.namer.Account)
	}
	if p, _ := PrincipalFrom(ctx); !p.Admin {
		return "", ecs.Errorf(ecs.ErrAccessDenied, "Only an administrator credential may read or change the settings of another principal (principalArn).")
	}
	return arnIn, nil
}

func settingToWire(s ecs.AccountSetting, typ string) *wire.Setting {
	return &wire.Setting{Name: wire.SettingName(s.Name), Value: s.Value, PrincipalArn: s.Principal, Type: wire.SettingType(typ)}
}

func (h *Handler) putAccountSetting(ctx context.Context, in *wire.PutAccountSettingRequest) (*wire.PutAccountSettingResponse, error) {
	if err := ecs.ValidateAccountSetting(string(in.Name), in.Value, false); err != nil {
		return nil, err
	}
	principal, err := h.principalFor(ctx, in.PrincipalArn)
	if err != nil {
		return nil, err
	}
	s, err := h.putSetting(ctx, principal, string(in.Name), in.Value)
	if err != nil {
		return nil, err
	}
	return &wire.PutAccountSettingResponse{Setting: settingToWire(s, "user")}, nil
}

func (h *Handler) putAccountSettingDefault(ctx context.Context, in *wire.PutAccountSettingDefaultRequest) (*wire.PutAccountSettingDefaultResponse, error) {
	if err := ecs.ValidateAccountSetting(string(in.Name), in.Value, true); err != nil {
		return nil, err
	}
	if p, _ := PrincipalFrom(ctx); !p.Admin {
		return nil, ecs.Errorf(ecs.ErrAccessDenied, "Only an administrator credential may change account defaults.")
	}
	s, err := h.putSetting(ctx, h.rootPrincipal(), string(in.Name), in.Value)
	if err != nil {
		return nil, err
	}
	return &wire.PutAccountSettingDefaultResponse{Setting: settingToWire(s, "user")}, nil
}

func (h *Handler) putSetting(ctx context.Context, principal, name, value string) (ecs.AccountSetting, error) {
	s := ecs.AccountSetting{Name: name, Value: value, Principal: principal}
	op, err := state.PutOp(state.AccountSettingKey(principal, name), s, store.ExpectAny)
	if err != nil {
		return s, err
	}
	_, err = h.store.Txn(ctx, op)
	return s, err
}

func (h *Handler) deleteAccountSetting(ctx context.Context, in *wire.DeleteAccountSettingRequest) (*wire.DeleteAccountSettingResponse, error) {
	if _, ok := ecs.AccountSettingSpecs[string(in.Name)]; !ok {
		return nil, ecs.ValidateAccountSetting(string(in.Name), "", false)
	}
	principal, err := h.principalFor(ctx, in.PrincipalArn)
	if err != nil {
		return nil, err
	}
	key := state.AccountSettingKey(principal, string(in.Name))
	var deleted ecs.AccountSetting
	err = state.Retry(ctx, func() error {
		s, rev, err := state.Get[ecs.AccountSetting](ctx, h.store, key)
		if errors.Is(err, store.ErrNotFound) {
			return ecs.Errorf(ecs.ErrInvalidParameter, "The account setting %s is not set for principal %s.", in.Name, principal)
		}
		if err != nil {
			return err
		}
		deleted = s
		_, err = h.store.Txn(ctx, store.Delete(key, rev))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &wire.DeleteAccountSettingResponse{Setting: settingToWire(deleted, "user")}, nil
}

func (h *Handler) listAccountSettings(ctx context.Context, in *wire.ListAccountSettingsRequest) (*wire.ListAccountSettingsResponse, error) {
	if in.Name != "" {
		if _, ok := ecs.AccountSettingSpecs[string(in.Name)]; !ok {
			return nil, ecs.ValidateAccountSetting(string(in.Name), "", false)
		}
	}
	if in.Value != "" && in.Name == "" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "value can only be used together with name.")
	}
	principal, err := h.principalFor(ctx, in.PrincipalArn)
	if err != nil {
		return nil, err
	}
	p, err := parsePageMax("settings:", in.NextToken, in.MaxResults, 10, 10)
	if err != nil {
		return nil, err
	}
	// The full list is small (one entry per setting name), so it is built
	// whole and then paged by position.
	all, err := h.accountSettingsFor(ctx, principal, derefBool(in.EffectiveSettings))
	if err != nil {
		return nil, err
	}
	var matched []*wire.Setting
	for _, s := range all {
		if (in.Name == "" || s.Name == in.Name) && (in.Value == "" || s.Value == in.Value) {
			matched = append(matched, s)
		}
	}
	start := 0
	if p.after != "" {
		start = -1
		for i, s := range matched {
			if "settings:"+string(s.Name) == p.after {
				start = i + 1
			}
		}
		if start < 0 {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "The nextToken is invalid or was issued for another request.")
		}
	}
	out := &wire.ListAccountSettingsResponse{Settings: []wire.Setting{}}
	for i := start; i < len(matched) && len(out.Settings) < p.limit; i++ {
		out.Settings = append(out.Settings, *matched[i])
		if len(out.Settings) == p.limit && i+1 < len(matched) {
			out.NextToken = nextToken("settings:" + string(matched[i].Name))
		}
	}
	return out, nil
}

// accountSettingsFor lists the principal's own settings, or (effective) the
// value in force for every setting: the principal's, else the account
// default, else ECS's default.
func (h *Handler) accountSettingsFor(ctx context.Context, principal string, effective bool) ([]*wire.Setting, error) {
	own, err := state.List[ecs.AccountSetting](ctx, h.store, state.AccountSettingsPrefix(principal), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []*wire.Setting
	if !effective {
		for _, r := range own {
			out = append(out, settingToWire(r.Value, "user"))
		}
		return out, nil
	}
	defaults, err := state.List[ecs.AccountSetting](ctx, h.store, state.AccountSettingsPrefix(h.rootPrincipal()), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	find := func(recs []state.Record[ecs.AccountSetting], name string) (ecs.AccountSetting, bool) {
		for _, r := range recs {
			if r.Value.Name == name {
				return r.Value, true
			}
		}
		return ecs.AccountSetting{}, false
	}
	for _, name := range ecs.SettingNames() {
		if s, ok := find(own, name); ok {
			out = append(out, settingToWire(s, "user"))
		} else if s, ok := find(defaults, name); ok {
			out = append(out, settingToWire(ecs.AccountSetting{Name: name, Value: s.Value, Principal: principal}, "user"))
		} else {
			s := ecs.AccountSetting{Name: name, Value: ecs.AccountSettingSpecs[name].Default, Principal: principal}
			out = append(out, settingToWire(s, "aws_managed"))
		}
	}
	return out, nil
}
