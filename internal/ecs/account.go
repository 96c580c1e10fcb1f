package ecs

import (
	"slices"
	"strings"
)

// AccountSetting is one account setting of one principal (or the account
// default when Principal is the account's root ARN).
type AccountSetting struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Principal string `json:"principalArn"`
}

// SettingSpec describes one account setting ECS knows.
type SettingSpec struct {
	Values  []string
	Default string
	// DefaultOnly settings can only be set account-wide (PutAccountSettingDefault).
	DefaultOnly bool
}

// AccountSettingSpecs are the account settings Berth accepts, with ECS's
// values and defaults. Berth records them and reports them; it always
// issues long ARNs whatever the *LongArnFormat settings say, as ECS does
// today for new accounts.
var AccountSettingSpecs = map[string]SettingSpec{
	"serviceLongArnFormat":            {Values: []string{"enabled", "disabled"}, Default: "enabled"},
	"taskLongArnFormat":               {Values: []string{"enabled", "disabled"}, Default: "enabled"},
	"containerInstanceLongArnFormat":  {Values: []string{"enabled", "disabled"}, Default: "enabled"},
	"awsvpcTrunking":                  {Values: []string{"enabled", "disabled"}, Default: "disabled"},
	"containerInsights":               {Values: []string{"enabled", "disabled", "enhanced"}, Default: "disabled"},
	"dualStackIPv6":                   {Values: []string{"enabled", "disabled"}, Default: "disabled"},
	"fargateFIPSMode":                 {Values: []string{"enabled", "disabled"}, Default: "disabled", DefaultOnly: true},
	"tagResourceAuthorization":        {Values: []string{"on", "off"}, Default: "on"},
	"fargateTaskRetirementWaitPeriod": {Values: []string{"0", "7", "14"}, Default: "7", DefaultOnly: true},
	"guardDutyActivate":               {Values: []string{"on", "off"}, Default: "off"},
	"defaultLogDriverMode":            {Values: []string{"blocking", "non-blocking"}, Default: "blocking"},
}

// SettingNames returns the known setting names, sorted.
func SettingNames() []string {
	names := make([]string, 0, len(AccountSettingSpecs))
	for n := range AccountSettingSpecs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ValidateAccountSetting checks a setting name and value. forDefault says
// whether it is being set account-wide.
func ValidateAccountSetting(name, value string, forDefault bool) error {
	spec, ok := AccountSettingSpecs[name]
	if !ok {
		return Errorf(ErrInvalidParameter, "name %q is not a valid account setting. Valid names: %s.", name, strings.Join(SettingNames(), ", "))
	}
	if !slices.Contains(spec.Values, value) {
		return Errorf(ErrInvalidParameter, "value %q is not valid for account setting %s. Valid values: %s.", value, name, strings.Join(spec.Values, ", "))
	}
	if spec.DefaultOnly && !forDefault {
		return Errorf(ErrInvalidParameter, "The %s setting can only be changed with PutAccountSettingDefault.", name)
	}
	return nil
}
