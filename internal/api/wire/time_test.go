package wire

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestTimeMarshal(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"hundredths", time.Date(2024, 2, 29, 21, 35, 25, 50e6, time.UTC), "1709242525.05"},
		{"milliseconds", time.Date(2024, 2, 29, 21, 35, 25, 53e6, time.UTC), "1709242525.053"},
		{"whole second", time.Date(2024, 2, 29, 21, 35, 25, 0, time.UTC), "1709242525"},
		{"tenths", time.Unix(1709242525, 100e6), "1709242525.1"},
		{"sub-millisecond rounds down", time.Unix(1709242525, 1_400_000), "1709242525.001"},
		{"sub-millisecond rounds up", time.Unix(1709242525, 999_600_000), "1709242526"},
		{"other zone", time.Date(2024, 2, 29, 22, 35, 25, 50e6, time.FixedZone("CET", 3600)), "1709242525.05"},
		{"epoch", time.Unix(0, 0), "0"},
		{"before epoch", time.Unix(-2, 500e6), "-1.5"},
		{"zero time", time.Time{}, "-62135596800"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(Time{tt.in})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTimeUnmarshal(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Time
	}{
		{"fraction", "1709242525.05", time.Date(2024, 2, 29, 21, 35, 25, 50e6, time.UTC)},
		{"milliseconds", "1709242525.053", time.Date(2024, 2, 29, 21, 35, 25, 53e6, time.UTC)},
		{"integer", "1709242525", time.Date(2024, 2, 29, 21, 35, 25, 0, time.UTC)},
		{"exponent form as sent by ECS", "1.709242525053E9", time.Date(2024, 2, 29, 21, 35, 25, 53e6, time.UTC)},
		{"microseconds round to milliseconds", "1709242525.0526", time.Date(2024, 2, 29, 21, 35, 25, 53e6, time.UTC)},
		{"zero is the epoch", "0", time.Unix(0, 0).UTC()},
		{"negative", "-1.5", time.Unix(-2, 500e6).UTC()},
		{"number in a string", `"1709242525.05"`, time.Date(2024, 2, 29, 21, 35, 25, 50e6, time.UTC)},
		{"ISO-8601 UTC", `"2024-02-29T21:35:25.05Z"`, time.Date(2024, 2, 29, 21, 35, 25, 50e6, time.UTC)},
		{"ISO-8601 offset", `"2024-02-29T22:35:25+01:00"`, time.Date(2024, 2, 29, 21, 35, 25, 0, time.UTC)},
		{"ISO-8601 without zone", `"2024-02-29T21:35:25"`, time.Date(2024, 2, 29, 21, 35, 25, 0, time.UTC)},
		{"ISO-8601 date", `"2024-02-29"`, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"ISO-8601 with a JSON escape", `"2024-02-29T21:35:25\u005a"`, time.Date(2024, 2, 29, 21, 35, 25, 0, time.UTC)},
		{"surrounding space", " 1709242525 ", time.Date(2024, 2, 29, 21, 35, 25, 0, time.UTC)},
		{"earliest", `"0001-01-01T00:00:00Z"`, time.Time{}},
		{"latest", "253402300799.999", time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Time
			if err := got.UnmarshalJSON([]byte(tt.in)); err != nil {
				t.Fatalf("UnmarshalJSON(%s): %v", tt.in, err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("UnmarshalJSON(%s) = %v, want %v", tt.in, got.Time, tt.want)
			}
			if got.Location() != time.UTC {
				t.Errorf("UnmarshalJSON(%s) is in %v, want UTC", tt.in, got.Location())
			}
		})
	}
}

func TestTimeUnmarshalErrors(t *testing.T) {
	for _, in := range []string{
		`"yesterday"`,
		`"2024-02-30T00:00:00Z"`,
		`"0x10"`,
		`"Inf"`,
		`"NaN"`,
		`"1_000"`,
		`""`,
		`"1e"`,
		`"."`,
		`true`,
		`{}`,
		`[1]`,
		`1e400`,
		`-1e20`,
		`253402300800`,
		`"10000-01-01T00:00:00Z"`,
		`"0000-12-31T23:59:59Z"`,
		`"unterminated`,
		``,
	} {
		var got Time
		err := got.UnmarshalJSON([]byte(in))
		if err == nil {
			t.Errorf("UnmarshalJSON(%s) = %v, want an error", in, got.Time)
			continue
		}
		if !errors.Is(err, errTime) {
			t.Errorf("UnmarshalJSON(%s) error %v does not wrap errTime", in, err)
		}
	}
}

// TestTimeInStruct covers absent, null and present timestamps as members.
func TestTimeInStruct(t *testing.T) {
	type holder struct {
		At *Time `json:"at,omitempty"`
	}
	tests := []struct {
		name    string
		in      string
		wantNil bool
		want    time.Time
		out     string
	}{
		{"absent", `{}`, true, time.Time{}, `{}`},
		{"null", `{"at":null}`, true, time.Time{}, `{}`},
		{"fraction", `{"at":1709242525.05}`, false, time.Unix(1709242525, 50e6), `{"at":1709242525.05}`},
		{"integer", `{"at":1709242525}`, false, time.Unix(1709242525, 0), `{"at":1709242525}`},
		{"ISO string", `{"at":"2024-02-29T21:35:25.05Z"}`, false, time.Unix(1709242525, 50e6), `{"at":1709242525.05}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h holder
			if err := json.Unmarshal([]byte(tt.in), &h); err != nil {
				t.Fatal(err)
			}
			if (h.At == nil) != tt.wantNil {
				t.Fatalf("At = %v, want nil: %v", h.At, tt.wantNil)
			}
			if !h.At.Value().Equal(tt.want) {
				t.Errorf("At = %v, want %v", h.At.Value(), tt.want)
			}
			out, err := json.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.out {
				t.Errorf("re-encoded as %s, want %s", out, tt.out)
			}
		})
	}
	var h holder
	if err := json.Unmarshal([]byte(`{"at":"soon"}`), &h); !errors.Is(err, errTime) {
		t.Errorf("decoding garbage in a struct: error %v, want errTime", err)
	}
}

func TestTimeRoundTrip(t *testing.T) {
	for _, ms := range []int64{0, 1, -1, 999, 1000, 1709242525050, 1709242525999, minTimeMilli, maxTimeMilli, -1234567} {
		in := Time{time.UnixMilli(ms).UTC()}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out Time
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%d ms: unmarshal %s: %v", ms, b, err)
		}
		if out != in {
			t.Errorf("%d ms: %s decoded as %v, want %v", ms, b, out.Time, in.Time)
		}
	}
}

func TestNewTime(t *testing.T) {
	now := time.Date(2024, 2, 29, 21, 35, 25, 0, time.UTC)
	if got := NewTime(now).Value(); !got.Equal(now) {
		t.Errorf("NewTime(%v).Value() = %v", now, got)
	}
	var nilTime *Time
	if got := nilTime.Value(); !got.IsZero() {
		t.Errorf("nil Value() = %v, want zero", got)
	}
}
