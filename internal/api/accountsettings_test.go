package api_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/servertest"
)

func TestAccountSettings(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)
	me := "arn:aws:iam::000000000000:user/admin"

	effective := func(principal string) map[string]string {
		t.Helper()
		m := map[string]string{}
		p := sdkecs.NewListAccountSettingsPaginator(c, &sdkecs.ListAccountSettingsInput{EffectiveSettings: true, PrincipalArn: aws.String(principal), MaxResults: 3})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range out.Settings {
				m[string(s.Name)] = aws.ToString(s.Value)
			}
		}
		return m
	}
	if got := effective(me); got["containerInsights"] != "disabled" || got["taskLongArnFormat"] != "enabled" || len(got) < 9 {
		t.Fatalf("defaults: %v", got)
	}
	// Account default, then a user override on top of it.
	if _, err := c.PutAccountSettingDefault(ctx, &sdkecs.PutAccountSettingDefaultInput{Name: types.SettingNameContainerInsights, Value: aws.String("enabled")}); err != nil {
		t.Fatal(err)
	}
	if got := effective(me); got["containerInsights"] != "enabled" {
		t.Fatalf("after default: %v", got["containerInsights"])
	}
	put, err := c.PutAccountSetting(ctx, &sdkecs.PutAccountSettingInput{Name: types.SettingNameContainerInsights, Value: aws.String("enhanced")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(put.Setting.PrincipalArn) != me || aws.ToString(put.Setting.Value) != "enhanced" {
		t.Fatalf("put returned %+v", put.Setting)
	}
	if got := effective(me); got["containerInsights"] != "enhanced" {
		t.Fatalf("after user setting: %v", got["containerInsights"])
	}
	own, err := c.ListAccountSettings(ctx, &sdkecs.ListAccountSettingsInput{})
	if err != nil || len(own.Settings) != 1 || own.Settings[0].Name != types.SettingNameContainerInsights {
		t.Fatalf("own settings: %+v %v", own, err)
	}
	filtered, err := c.ListAccountSettings(ctx, &sdkecs.ListAccountSettingsInput{EffectiveSettings: true, Name: types.SettingNameAwsvpcTrunking})
	if err != nil || len(filtered.Settings) != 1 || aws.ToString(filtered.Settings[0].Value) != "disabled" {
		t.Fatalf("filtered: %+v %v", filtered, err)
	}
	del, err := c.DeleteAccountSetting(ctx, &sdkecs.DeleteAccountSettingInput{Name: types.SettingNameContainerInsights})
	if err != nil || aws.ToString(del.Setting.Value) != "enhanced" {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if got := effective(me); got["containerInsights"] != "enabled" {
		t.Fatalf("after delete: %v", got["containerInsights"])
	}

	tests := []struct {
		name string
		call func() error
		typ  string
		frag string
	}{
		{"unknown name", func() error {
			_, err := c.PutAccountSetting(ctx, &sdkecs.PutAccountSettingInput{Name: "bogus", Value: aws.String("enabled")})
			return err
		}, "InvalidParameterException", "bogus"},
		{"bad value", func() error {
			_, err := c.PutAccountSetting(ctx, &sdkecs.PutAccountSettingInput{Name: types.SettingNameAwsvpcTrunking, Value: aws.String("yes")})
			return err
		}, "InvalidParameterException", "yes"},
		{"default-only setting", func() error {
			_, err := c.PutAccountSetting(ctx, &sdkecs.PutAccountSettingInput{Name: types.SettingNameFargateTaskRetirementWaitPeriod, Value: aws.String("14")})
			return err
		}, "InvalidParameterException", "PutAccountSettingDefault"},
		{"delete unset", func() error {
			_, err := c.DeleteAccountSetting(ctx, &sdkecs.DeleteAccountSettingInput{Name: types.SettingNameAwsvpcTrunking})
			return err
		}, "InvalidParameterException", "awsvpcTrunking"},
		{"foreign principal", func() error {
			_, err := c.PutAccountSetting(ctx, &sdkecs.PutAccountSettingInput{Name: types.SettingNameAwsvpcTrunking, Value: aws.String("enabled"),
				PrincipalArn: aws.String("arn:aws:iam::999999999999:user/x")})
			return err
		}, "InvalidParameterException", "principalArn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantAPIError(t, tt.call(), tt.typ, tt.frag) })
	}
}

func TestAccountSettingsPrincipals(t *testing.T) {
	srv := servertest.Start(t)
	admin := &aws.Credentials{AccessKeyID: srv.Admin.AccessKeyID, SecretAccessKey: srv.Admin.SecretAccessKey}
	r := rawCall(t, srv, "POST", "BerthAdminV1.CreateCredential", []byte(`{"name":"ci"}`), admin, time.Now())
	cred := r.body["credential"].(map[string]any)
	ci := srv.ECSWith(cred["accessKeyId"].(string), cred["secretAccessKey"].(string))
	c := srv.ECS(t)
	ctx := testCtx(t)
	if _, err := c.PutAccountSetting(ctx, &sdkecs.PutAccountSettingInput{Name: types.SettingNameAwsvpcTrunking, Value: aws.String("enabled")}); err != nil {
		t.Fatal(err)
	}
	// A non-administrator sees its own settings, not another principal's.
	_, err := ci.ListAccountSettings(ctx, &sdkecs.ListAccountSettingsInput{PrincipalArn: aws.String("arn:aws:iam::000000000000:user/admin")})
	wantAPIError(t, err, "AccessDeniedException", "principalArn")
	own, err := ci.ListAccountSettings(ctx, &sdkecs.ListAccountSettingsInput{})
	if err != nil || len(own.Settings) != 0 {
		t.Fatalf("ci's own settings: %+v %v", own, err)
	}
	// Principal ARNs must name one principal exactly.
	for _, bad := range []string{"arn:aws:iam::000000000000:user", "arn:aws:iam::000000000000:user/a/b", "arn:aws:iam::000000000000:user/"} {
		_, err := c.ListAccountSettings(ctx, &sdkecs.ListAccountSettingsInput{PrincipalArn: aws.String(bad)})
		wantAPIError(t, err, "InvalidParameterException", "principalArn")
	}
	_, err = c.ListAccountSettings(ctx, &sdkecs.ListAccountSettingsInput{MaxResults: 11})
	wantAPIError(t, err, "InvalidParameterException", "maxResults")
}
