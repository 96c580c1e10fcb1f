package credential

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Keys of the AWS shared credentials file (~/.aws/credentials).
const (
	keyAccessKeyID   = "aws_access_key_id"
	keySecretKey     = "aws_secret_access_key"
	keySessionToken  = "aws_session_token"
	keySecurityToken = "aws_security_token" // legacy alias of aws_session_token
)

// ErrProfileNotFound: the shared credentials file has no such profile.
var ErrProfileNotFound = errors.New("credential: profile not found")

// WriteSharedFile stores c's key pair as profile in the AWS shared
// credentials file at path, creating the file (and its directory, 0700) if
// needed. Other profiles and comments are kept; in the profile's section the
// key pair is replaced and any session token, which would no longer match,
// is dropped. The file is replaced atomically (a temporary file in the same
// directory, synced, then renamed) and always ends with mode 0600, whatever
// mode an existing file had.
func WriteSharedFile(path, profile string, c Credential) error {
	if err := validateProfile(profile); err != nil {
		return err
	}
	if err := ValidateAccessKeyID(c.AccessKeyID); err != nil {
		return err
	}
	if err := validateSecret(c.SecretAccessKey); err != nil {
		return err
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("credential: read %s: %w", path, err)
	}
	content := setProfile(old, profile, c)

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("credential: create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("credential: write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // a no-op once renamed
	err = tmp.Chmod(0o600)   // CreateTemp already uses 0600; be explicit
	if err == nil {
		_, err = tmp.Write(content)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmpName, path)
	}
	if err != nil {
		return fmt.Errorf("credential: write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable where the platform allows it
		d.Close()
	}
	return nil
}

// ReadSharedFile reads profile's key pair from the AWS shared credentials
// file at path. The result has AccessKeyID and SecretAccessKey set and its
// other fields empty. It fails with ErrProfileNotFound if the section is
// missing and with ErrInvalid if it lacks either key.
func ReadSharedFile(path, profile string) (Credential, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Credential{}, fmt.Errorf("credential: read %s: %w", path, err)
	}
	var (
		found   bool
		current string
		inside  bool
		c       Credential
	)
	for _, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		if name, ok := sectionName(t); ok {
			current = name
			inside = current == profile
			found = found || inside
			continue
		}
		if !inside || t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		key, val, ok := splitKeyValue(t)
		if !ok {
			continue
		}
		switch key {
		case keyAccessKeyID:
			c.AccessKeyID = val
		case keySecretKey:
			c.SecretAccessKey = val
		}
	}
	if !found {
		return Credential{}, fmt.Errorf("%w: %q in %s", ErrProfileNotFound, profile, path)
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return Credential{}, fmt.Errorf("%w: profile %q in %s lacks %s or %s", ErrInvalid, profile, path, keyAccessKeyID, keySecretKey)
	}
	return c, nil
}

// setProfile returns the file content old with profile's section holding
// c's key pair.
func setProfile(old []byte, profile string, c Credential) []byte {
	pair := []string{keyAccessKeyID + " = " + c.AccessKeyID, keySecretKey + " = " + c.SecretAccessKey}
	var lines []string
	if len(old) > 0 {
		lines = strings.Split(strings.TrimRight(string(old), "\n"), "\n")
	}
	var out []string
	inside, done := false, false
	for _, line := range lines {
		t := strings.TrimSpace(line)
		if name, ok := sectionName(t); ok {
			inside = name == profile && !done
			out = append(out, line)
			if inside {
				out = append(out, pair...)
				done = true
			}
			continue
		}
		if inside {
			if key, _, ok := splitKeyValue(t); ok && t[0] != '#' && t[0] != ';' {
				switch key {
				case keyAccessKeyID, keySecretKey, keySessionToken, keySecurityToken:
					continue // replaced above, or stale with the new pair
				}
			}
		}
		out = append(out, line)
	}
	if !done {
		if len(out) > 0 && strings.TrimSpace(out[len(out)-1]) != "" {
			out = append(out, "")
		}
		out = append(out, "["+profile+"]")
		out = append(out, pair...)
	}
	var b bytes.Buffer
	for _, line := range out {
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// sectionName recognises a "[name]" line (already trimmed).
func sectionName(t string) (string, bool) {
	if len(t) < 2 || t[0] != '[' || t[len(t)-1] != ']' {
		return "", false
	}
	return strings.TrimSpace(t[1 : len(t)-1]), true
}

// splitKeyValue splits "key = value" or "key: value" (whichever delimiter
// comes first, as Python's configparser does); keys are case-insensitive.
func splitKeyValue(t string) (key, val string, ok bool) {
	i := strings.IndexAny(t, "=:")
	if i <= 0 {
		return "", "", false
	}
	return strings.ToLower(strings.TrimSpace(t[:i])), strings.TrimSpace(t[i+1:]), true
}

// validateProfile accepts names that round-trip through a "[name]" line.
func validateProfile(p string) error {
	if strings.TrimSpace(p) != p || p == "" || strings.ContainsAny(p, "[]\r\n") {
		return fmt.Errorf("%w: profile name %q", ErrInvalid, p)
	}
	return nil
}
