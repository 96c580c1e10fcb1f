package api

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// Pagination follows ECS: maxResults 1..100 (default 100 unless the
// operation says otherwise), nextToken opaque. Berth's token is the last
// store key returned, base64url-encoded and bound to the listing's prefix so
// that a token from one listing is rejected by another.

const defaultMaxResults = 100

// page is a decoded pagination request.
type page struct {
	after string // start strictly after this key ("" = from the start)
	limit int
}

func parsePage(prefix, token string, maxResults *int32, def int) (page, error) {
	return parsePageMax(prefix, token, maxResults, def, 100)
}

// parsePageMax is parsePage for operations whose maxResults tops out
// below 100 (ListAccountSettings: 10).
func parsePageMax(prefix, token string, maxResults *int32, def, max int) (page, error) {
	p := page{limit: def}
	if maxResults != nil {
		if *maxResults < 1 || int(*maxResults) > max {
			return p, ecs.Errorf(ecs.ErrInvalidParameter, "maxResults must be between 1 and %d.", max)
		}
		p.limit = int(*maxResults)
	}
	if token == "" {
		return p, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || !strings.HasPrefix(string(raw), prefix) {
		return p, ecs.Errorf(ecs.ErrInvalidParameter, "The nextToken is invalid or was issued for another request.")
	}
	p.after = string(raw)
	return p, nil
}

func nextToken(lastKey string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastKey))
}

// listPage pages through the records under prefix that match accepts and
// returns their ARNs and the next token. It reads batches of at least
// batch records (p.limit+1 when larger) until one match more than the page
// holds is seen — that one says there is a next page — or the records run
// out.
func listPage[T any](ctx context.Context, r store.Reader, prefix string, p page, batch int,
	match func(*T) bool, arnOf func(*T) string) (arns []string, next string, err error) {
	batch = max(batch, p.limit+1)
	arns = []string{}
	var lastKey string
	after := p.after
	for {
		recs, err := state.List[T](ctx, r, prefix, store.ListOptions{After: after, Limit: batch})
		if err != nil {
			return nil, "", err
		}
		for i := range recs {
			after = recs[i].Key
			if !match(&recs[i].Value) {
				continue
			}
			if len(arns) == p.limit {
				return arns, nextToken(lastKey), nil
			}
			arns = append(arns, arnOf(&recs[i].Value))
			lastKey = recs[i].Key
		}
		if len(recs) < batch {
			return arns, "", nil
		}
	}
}
