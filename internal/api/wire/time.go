package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Time is an ECS timestamp. On the wire it is a JSON number of seconds since
// the Unix epoch with up to millisecond precision, e.g. 1709242525.05.
//
// Decoding accepts a number (integer, fraction or exponent form), a string
// holding such a number, or leniently an ISO-8601 string. Decoded values are
// in UTC and rounded to the millisecond, the precision of the wire, so that
// decode -> encode -> decode is stable. Times outside years 1 to 9999 are
// rejected.
type Time struct {
	time.Time
}

// NewTime returns t as a *Time, ready to be set on a wire structure.
func NewTime(t time.Time) *Time { return &Time{Time: t} }

// Value returns the time held by t, or the zero time if t is nil.
func (t *Time) Value() time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// Range of accepted times, in milliseconds since the epoch.
var (
	minTimeMilli = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	maxTimeMilli = time.Date(9999, time.December, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()
)

// errTime is wrapped by every decoding error of Time.
var errTime = errors.New("invalid ECS timestamp")

// MarshalJSON encodes t as epoch seconds, rounded to the millisecond: an
// integer when there is no fraction, otherwise a decimal without trailing
// zeros.
func (t Time) MarshalJSON() ([]byte, error) {
	return appendEpoch(nil, t.Round(time.Millisecond).UnixMilli()), nil
}

func appendEpoch(b []byte, ms int64) []byte {
	neg := ms < 0
	u := uint64(ms)
	if neg {
		b = append(b, '-')
		u = -u
	}
	b = strconv.AppendUint(b, u/1000, 10)
	frac := u % 1000
	if frac == 0 {
		return b
	}
	digits := []byte{byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
	digits = bytes.TrimRight(digits, "0")
	b = append(b, '.')
	return append(b, digits...)
}

// UnmarshalJSON decodes epoch seconds (a number, or a string holding one) or
// an ISO-8601 string. JSON null leaves t unchanged.
func (t *Time) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return nil
	}
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := jsonString(data, &s); err != nil {
			return err
		}
		if isNumber(s) {
			return t.setEpoch(s)
		}
		return t.setISO(s)
	}
	if !isNumber(string(data)) {
		return fmt.Errorf("%w: %.40q is neither a number nor a string", errTime, data)
	}
	return t.setEpoch(string(data))
}

// jsonString unquotes a JSON string literal.
func jsonString(data []byte, s *string) error {
	if err := json.Unmarshal(data, s); err != nil {
		return fmt.Errorf("%w: %w", errTime, err)
	}
	return nil
}

// isNumber reports whether s looks like a decimal number: an optional sign,
// digits with an optional fraction and an optional exponent. strconv.ParseFloat
// alone would also take hex, "Inf", "NaN" and underscores.
func isNumber(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		exp := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// setEpoch sets t from a decimal number of seconds. Within the accepted range
// the float64 error stays far below half a millisecond, so rounding the
// product recovers the exact millisecond of any value MarshalJSON wrote.
func (t *Time) setEpoch(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%w: %w", errTime, err)
	}
	ms := math.Round(f * 1000)
	if ms < float64(minTimeMilli) || ms > float64(maxTimeMilli) {
		return fmt.Errorf("%w: %s seconds is outside years 1 to 9999", errTime, s)
	}
	t.Time = time.UnixMilli(int64(ms)).UTC()
	return nil
}

// isoLayouts are the ISO-8601 forms accepted leniently; those without a zone
// are taken as UTC.
var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

func (t *Time) setISO(s string) error {
	for _, layout := range isoLayouts {
		v, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		ms := v.Round(time.Millisecond).UnixMilli()
		if ms < minTimeMilli || ms > maxTimeMilli {
			return fmt.Errorf("%w: %q is outside years 1 to 9999", errTime, s)
		}
		t.Time = time.UnixMilli(ms).UTC()
		return nil
	}
	return fmt.Errorf("%w: %.40q is neither epoch seconds nor ISO-8601", errTime, s)
}
