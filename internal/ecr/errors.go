package ecr

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/berth/berth/internal/api/awsjson"
	"github.com/berth/berth/internal/state"
)

// kind is a category of failure the ECR API reports; wireErrors maps each
// to its wire type and HTTP status.
type kind int

const (
	kindServer kind = iota
	kindUnknownOperation
	kindSerialization
	kindThrottling
	kindInvalidParameter
	kindInvalidTagParameter
	kindTooManyTags
	kindValidation
	kindLimitExceeded
	kindRepositoryNotFound
	kindRepositoryAlreadyExists
	kindRepositoryNotEmpty
	kindImageNotFound
	kindImageAlreadyExists
	kindImageTagAlreadyExists
	kindImageDigestDoesNotMatch
	kindLayersNotFound
	kindLifecyclePolicyNotFound
)

// wireErrors is the one table from error kinds to ECR wire errors
// (AmazonEC2ContainerRegistry_V20150921 error shapes).
var wireErrors = [...]struct {
	typ    string
	status int
}{
	kindServer:                  {"ServerException", http.StatusInternalServerError},
	kindUnknownOperation:        {"UnknownOperationException", http.StatusBadRequest},
	kindSerialization:           {"SerializationException", http.StatusBadRequest},
	kindThrottling:              {"ThrottlingException", http.StatusBadRequest},
	kindInvalidParameter:        {"InvalidParameterException", http.StatusBadRequest},
	kindInvalidTagParameter:     {"InvalidTagParameterException", http.StatusBadRequest},
	kindTooManyTags:             {"TooManyTagsException", http.StatusBadRequest},
	kindValidation:              {"ValidationException", http.StatusBadRequest},
	kindLimitExceeded:           {"LimitExceededException", http.StatusBadRequest},
	kindRepositoryNotFound:      {"RepositoryNotFoundException", http.StatusBadRequest},
	kindRepositoryAlreadyExists: {"RepositoryAlreadyExistsException", http.StatusBadRequest},
	kindRepositoryNotEmpty:      {"RepositoryNotEmptyException", http.StatusBadRequest},
	kindImageNotFound:           {"ImageNotFoundException", http.StatusBadRequest},
	kindImageAlreadyExists:      {"ImageAlreadyExistsException", http.StatusBadRequest},
	kindImageTagAlreadyExists:   {"ImageTagAlreadyExistsException", http.StatusBadRequest},
	kindImageDigestDoesNotMatch: {"ImageDigestDoesNotMatchException", http.StatusBadRequest},
	kindLayersNotFound:          {"LayersNotFoundException", http.StatusBadRequest},
	kindLifecyclePolicyNotFound: {"LifecyclePolicyNotFoundException", http.StatusBadRequest},
}

// apiError is every error Call returns. Error() is the message the client
// sees; the cause, if any, is for the server log only.
type apiError struct {
	kind  kind
	msg   string
	cause error
}

func (e *apiError) Error() string    { return e.msg }
func (e *apiError) Unwrap() error    { return e.cause }
func (e *apiError) WireType() string { return wireErrors[e.kind].typ }
func (e *apiError) WireStatus() int  { return wireErrors[e.kind].status }

func errorf(k kind, format string, args ...any) *apiError {
	return &apiError{kind: k, msg: fmt.Sprintf(format, args...)}
}

// serverMessage is what a client sees of an internal failure.
const serverMessage = "An internal error occurred in the Berth server. The request was not completed; see the server log."

// toWire turns any error of an operation into an *apiError: categorised
// errors pass through, contention the store gave up on is a throttle the
// SDKs retry, and everything else is a ServerException whose cause is
// logged, not sent.
func (h *Handler) toWire(op string, err error) *apiError {
	var ae *apiError
	var se *awsjson.SerializationError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &se):
		return &apiError{kind: kindSerialization, msg: se.Msg}
	case errors.Is(err, state.ErrTooMuchContention):
		return &apiError{kind: kindThrottling, msg: "Rate exceeded", cause: err}
	}
	h.log.Error("ecr request failed", "op", op, "err", err)
	return &apiError{kind: kindServer, msg: serverMessage, cause: err}
}

// Messages shared by several operations, worded as ECR words them.

func (h *Handler) errRepoNotFound(name string) *apiError {
	return errorf(kindRepositoryNotFound, "The repository with name '%s' does not exist in the registry with id '%s'", name, h.account)
}

func invalidParam(field, constraint string) *apiError {
	return errorf(kindInvalidParameter, "Invalid parameter at '%s' failed to satisfy constraint: '%s'", field, constraint)
}
