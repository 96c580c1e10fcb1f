package credential

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteSharedFileNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "home", ".aws", "credentials")
	c := mustGenerate(t, "me")
	if err := WriteSharedFile(path, "berth", c); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	want := "[berth]\naws_access_key_id = " + c.AccessKeyID + "\naws_secret_access_key = " + c.SecretAccessKey + "\n"
	if string(data) != want {
		t.Fatalf("content\n%s\nwant\n%s", data, want)
	}
	got, err := ReadSharedFile(path, "berth")
	if err != nil || got.AccessKeyID != c.AccessKeyID || got.SecretAccessKey != c.SecretAccessKey {
		t.Fatalf("ReadSharedFile = %+v, %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %v: temporary file left behind", entries)
	}
}

func TestWriteSharedFileExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	const old = "# my keys\n" +
		"[default]\n" +
		"aws_access_key_id = AKIAOLDDEFAULT000000\n" +
		"aws_secret_access_key = oldDefaultSecret000000\n" +
		"\n" +
		"[berth]\n" +
		"aws_access_key_id = BKIAOLDBERTH00000000\n" +
		"; a comment in the section\n" +
		"AWS_SECRET_ACCESS_KEY=oldBerthSecret00000000\n" +
		"aws_session_token = stale\n" +
		"region = eu-west-1\n" +
		"\n" +
		"[other]\n" +
		"aws_access_key_id = AKIAOTHER00000000000\n" +
		"aws_secret_access_key = otherSecret0000000000\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // defeat the umask
		t.Fatal(err)
	}
	c := mustGenerate(t, "me")
	if err := WriteSharedFile(path, "berth", c); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600 after rewriting a 0644 file", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	want := "# my keys\n" +
		"[default]\n" +
		"aws_access_key_id = AKIAOLDDEFAULT000000\n" +
		"aws_secret_access_key = oldDefaultSecret000000\n" +
		"\n" +
		"[berth]\n" +
		"aws_access_key_id = " + c.AccessKeyID + "\n" +
		"aws_secret_access_key = " + c.SecretAccessKey + "\n" +
		"; a comment in the section\n" +
		"region = eu-west-1\n" +
		"\n" +
		"[other]\n" +
		"aws_access_key_id = AKIAOTHER00000000000\n" +
		"aws_secret_access_key = otherSecret0000000000\n"
	if string(data) != want {
		t.Fatalf("content\n%s\nwant\n%s", data, want)
	}
	for profile, wantID := range map[string]string{"default": "AKIAOLDDEFAULT000000", "berth": c.AccessKeyID, "other": "AKIAOTHER00000000000"} {
		got, err := ReadSharedFile(path, profile)
		if err != nil || got.AccessKeyID != wantID {
			t.Errorf("profile %s: %+v, %v", profile, got, err)
		}
	}

	// A new profile is appended after a blank line.
	d := mustGenerate(t, "ci")
	if err := WriteSharedFile(path, "ci", d); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	if !strings.HasSuffix(string(data), "otherSecret0000000000\n\n[ci]\naws_access_key_id = "+d.AccessKeyID+
		"\naws_secret_access_key = "+d.SecretAccessKey+"\n") {
		t.Fatalf("appended profile:\n%s", data)
	}
}

func TestReadSharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	content := "[a]\n" +
		"  AWS_ACCESS_KEY_ID: BKIAAAAAAAAAAAAAAAAA  \n" +
		"aws_secret_access_key=abc=def/ghi+jkl\n" +
		"[ b ]\n" +
		"aws_access_key_id = BKIABBBBBBBBBBBBBBBB\n" +
		"[only-id]\n" +
		"aws_access_key_id = BKIACCCCCCCCCCCCCCCC\n" +
		"[crlf]\r\n" +
		"aws_access_key_id = BKIADDDDDDDDDDDDDDDD\r\n" +
		"aws_secret_access_key = crlfSecret0123456\r\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		profile  string
		wantID   string
		wantKey  string
		wantKind error
	}{
		{profile: "a", wantID: "BKIAAAAAAAAAAAAAAAAA", wantKey: "abc=def/ghi+jkl"},
		{profile: "crlf", wantID: "BKIADDDDDDDDDDDDDDDD", wantKey: "crlfSecret0123456"},
		{profile: "b", wantKind: ErrInvalid},
		{profile: "only-id", wantKind: ErrInvalid},
		{profile: "missing", wantKind: ErrProfileNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			got, err := ReadSharedFile(path, tt.profile)
			if tt.wantKind != nil {
				if !errors.Is(err, tt.wantKind) {
					t.Fatalf("got %v, want %v", err, tt.wantKind)
				}
				return
			}
			if err != nil || got.AccessKeyID != tt.wantID || got.SecretAccessKey != tt.wantKey {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
	if _, err := ReadSharedFile(filepath.Join(t.TempDir(), "absent"), "a"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("absent file: got %v", err)
	}
}

func TestWriteSharedFileRejects(t *testing.T) {
	dir := t.TempDir()
	c := mustGenerate(t, "me")
	for _, profile := range []string{"", " padded", "a]b", "new\nline", "[x"} {
		if err := WriteSharedFile(filepath.Join(dir, "f"), profile, c); !errors.Is(err, ErrInvalid) {
			t.Errorf("profile %q: got %v", profile, err)
		}
	}
	bad := c
	bad.SecretAccessKey = "has a space in it!!"
	if err := WriteSharedFile(filepath.Join(dir, "f"), "p", bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad secret: got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a rejected write created the file")
	}
	// A path whose parent is a file cannot be written.
	if err := os.WriteFile(filepath.Join(dir, "plain"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteSharedFile(filepath.Join(dir, "plain", "credentials"), "p", c); err == nil {
		t.Error("writing under a regular file must fail")
	}
}
