package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/berth/berth/internal/api/wire"
)

// fill sets every field reachable from v to a non-zero value, one element
// per list and map, so that a conversion that drops any member shows.
func fill(v reflect.Value, depth int) {
	if depth > 8 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.Type() == reflect.TypeOf(&wire.Time{}) {
			v.Set(reflect.ValueOf(wire.NewTime(time.Unix(1700000000, 0))))
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), depth+1)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth+1)
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Float64:
		v.SetFloat(7)
	}
}

func TestTaskDefinitionConversionKeepsEveryField(t *testing.T) {
	var in wire.RegisterTaskDefinitionRequest
	fill(reflect.ValueOf(&in).Elem(), 0)
	td, err := taskDefFromRegister(&in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := taskDefToWire(*td)
	if err != nil {
		t.Fatal(err)
	}
	var inMap, outMap map[string]any
	b, _ := json.Marshal(in)
	json.Unmarshal(b, &inMap)
	b, _ = json.Marshal(out)
	json.Unmarshal(b, &outMap)
	if len(td.Tags) != 1 {
		t.Errorf("tags lost: %v", td.Tags)
	}
	delete(inMap, "tags")
	for k, want := range inMap {
		got, ok := outMap[k]
		if !ok {
			t.Errorf("member %s was lost in the conversion", k)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			t.Errorf("member %s changed:\n got  %s\n want %s", k, gb, wb)
		}
	}
	// Output-only members come through too.
	td.Revision, td.ARN = 3, "arn"
	td.RegisteredAt = time.Unix(1700000000, 500e6)
	out, err = taskDefToWire(*td)
	if err != nil || out.Revision == nil || *out.Revision != 3 || out.TaskDefinitionArn != "arn" || out.RegisteredAt.Value() != td.RegisteredAt {
		t.Fatalf("output members: %+v %v", out, err)
	}
}
