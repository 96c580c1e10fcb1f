package wire

import "reflect"

// Paginator holds the pagination facts of one operation: the request member
// carrying the token, the response member returning the next token, the
// request member limiting the page size and the response member holding the
// page's results.
type Paginator struct {
	InputToken  string
	OutputToken string
	LimitKey    string
	ResultKey   string
}

// ShapeType returns the Go type generated for the structure shape name.
func ShapeType(name string) (reflect.Type, bool) {
	t, ok := shapeTypes[name]
	return t, ok
}

// NewShape returns a pointer to a new zero value of the Go type generated for
// the structure shape name, ready for json.Unmarshal.
func NewShape(name string) (any, bool) {
	t, ok := shapeTypes[name]
	if !ok {
		return nil, false
	}
	return reflect.New(t).Interface(), true
}
