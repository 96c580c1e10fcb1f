package api

import (
	"errors"
	"net/http"

	"github.com/berth/berth/internal/api/sigv4"
	"github.com/berth/berth/internal/credential"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/state"
)

// wireError is what a client sees of a failure.
type wireError struct {
	Type    string
	Status  int
	Message string
}

// Protocol-level failures that belong to this layer, not the domain.
var (
	errUnknownOperationKind = errors.New("unknown operation")
	errSerializationKind    = errors.New("serialization")
)

func errUnknownOperation(msg string) error { return ecs.Errorf(errUnknownOperationKind, "%s", msg) }
func errSerialization(msg string) error    { return ecs.Errorf(errSerializationKind, "%s", msg) }

// errorTable is the one mapping from Berth's error categories to ECS wire
// errors. The first entry whose category errors.Is matches wins; anything
// unmatched is a ServerException whose details are logged, not sent.
var errorTable = []struct {
	kind   error
	typ    string
	status int
}{
	{errUnknownOperationKind, "UnknownOperationException", http.StatusBadRequest},
	{errSerializationKind, "SerializationException", http.StatusBadRequest},
	{sigv4.ErrMissingAuthenticationToken, "MissingAuthenticationTokenException", http.StatusBadRequest},
	{sigv4.ErrIncompleteSignature, "IncompleteSignatureException", http.StatusBadRequest},
	{sigv4.ErrUnrecognizedClient, "UnrecognizedClientException", http.StatusBadRequest},
	{sigv4.ErrSignatureExpired, "InvalidSignatureException", http.StatusBadRequest},
	{sigv4.ErrInvalidSignature, "InvalidSignatureException", http.StatusBadRequest},
	{credential.ErrNotFound, "ResourceNotFoundException", http.StatusBadRequest},
	{credential.ErrExists, "ResourceInUseException", http.StatusBadRequest},
	{credential.ErrInvalid, "InvalidParameterException", http.StatusBadRequest},
	{ecs.ErrClient, "ClientException", http.StatusBadRequest},
	{ecs.ErrInvalidParameter, "InvalidParameterException", http.StatusBadRequest},
	{ecs.ErrAccessDenied, "AccessDeniedException", http.StatusBadRequest},
	{ecs.ErrClusterNotFound, "ClusterNotFoundException", http.StatusBadRequest},
	{ecs.ErrClusterContainsInstances, "ClusterContainsContainerInstancesException", http.StatusBadRequest},
	{ecs.ErrClusterContainsServices, "ClusterContainsServicesException", http.StatusBadRequest},
	{ecs.ErrClusterContainsTasks, "ClusterContainsTasksException", http.StatusBadRequest},
	{ecs.ErrClusterContainsCapacityProv, "ClusterContainsCapacityProviderException", http.StatusBadRequest},
	{ecs.ErrResourceNotFound, "ResourceNotFoundException", http.StatusBadRequest},
	{ecs.ErrResourceInUse, "ResourceInUseException", http.StatusBadRequest},
	{ecs.ErrLimitExceeded, "LimitExceededException", http.StatusBadRequest},
	{ecs.ErrAttributeLimitExceeded, "AttributeLimitExceededException", http.StatusBadRequest},
	{ecs.ErrTargetNotFound, "TargetNotFoundException", http.StatusBadRequest},
	{ecs.ErrServiceNotFound, "ServiceNotFoundException", http.StatusBadRequest},
	{ecs.ErrServiceNotActive, "ServiceNotActiveException", http.StatusBadRequest},
	{ecs.ErrPlatformUnknown, "PlatformUnknownException", http.StatusBadRequest},
	{ecs.ErrPlatformTaskDefIncompatible, "PlatformTaskDefinitionIncompatibilityException", http.StatusBadRequest},
	{ecs.ErrUnsupportedFeature, "UnsupportedFeatureException", http.StatusBadRequest},
	{ecs.ErrUpdateInProgress, "UpdateInProgressException", http.StatusBadRequest},
	{ecs.ErrConflict, "ConflictException", http.StatusBadRequest},
	{ecs.ErrNamespaceNotFound, "NamespaceNotFoundException", http.StatusBadRequest},
	{ecs.ErrServiceDeploymentNotFound, "ServiceDeploymentNotFoundException", http.StatusBadRequest},
	{ecs.ErrTaskSetNotFound, "TaskSetNotFoundException", http.StatusBadRequest},
	{ecs.ErrNoUpdateAvailable, "NoUpdateAvailableException", http.StatusBadRequest},
	{ecs.ErrMissingVersion, "MissingVersionException", http.StatusBadRequest},
	{ecs.ErrBlocked, "BlockedException", http.StatusBadRequest},
	{ecs.ErrTargetNotConnected, "TargetNotConnectedException", http.StatusBadRequest},
	{ecs.ErrServer, "ServerException", http.StatusInternalServerError},
	// Contention the server gave up on: clients (and SDK retryers) retry it.
	{state.ErrTooMuchContention, "ThrottlingException", http.StatusBadRequest},
}

// toWire maps err through errorTable. The message is the client-facing
// text of the categorised error inside err, not the whole wrapped chain
// (which may name internal keys).
func toWire(err error) wireError {
	var we WireError
	if errors.As(err, &we) {
		return wireError{Type: we.WireType(), Status: we.WireStatus(), Message: we.Error()}
	}
	msg := err.Error()
	var ee *ecs.Error
	var se *sigv4.Error
	switch {
	case errors.As(err, &ee):
		msg = ee.Msg
	case errors.As(err, &se):
		msg = se.Msg
	case errors.Is(err, state.ErrTooMuchContention):
		msg = "Rate exceeded"
	}
	for _, e := range errorTable {
		if errors.Is(err, e.kind) {
			return wireError{Type: e.typ, Status: e.status, Message: msg}
		}
	}
	return wireError{Type: "ServerException", Status: http.StatusInternalServerError,
		Message: "An internal error occurred in the Berth server. The request was not completed; see the server log."}
}
