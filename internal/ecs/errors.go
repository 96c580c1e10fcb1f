package ecs

import (
	"errors"
	"fmt"
)

// Error categories. Each maps to exactly one ECS wire error in
// internal/api's error table; code below this package never names wire
// types. Create errors with Errorf so that the message a client sees is
// exactly the text given (ECS style: it names the offending field).
var (
	ErrClient                      = errors.New("client error")      // ClientException
	ErrInvalidParameter            = errors.New("invalid parameter") // InvalidParameterException
	ErrServer                      = errors.New("server error")      // ServerException
	ErrAccessDenied                = errors.New("access denied")     // AccessDeniedException
	ErrClusterNotFound             = errors.New("cluster not found") // ClusterNotFoundException
	ErrClusterContainsInstances    = errors.New("cluster contains container instances")
	ErrClusterContainsServices     = errors.New("cluster contains services")
	ErrClusterContainsTasks        = errors.New("cluster contains tasks")
	ErrClusterContainsCapacityProv = errors.New("cluster contains capacity providers")
	ErrResourceNotFound            = errors.New("resource not found")
	ErrResourceInUse               = errors.New("resource in use")
	ErrLimitExceeded               = errors.New("limit exceeded")
	ErrAttributeLimitExceeded      = errors.New("attribute limit exceeded")
	ErrTargetNotFound              = errors.New("target not found")
	ErrServiceNotFound             = errors.New("service not found")
	ErrServiceNotActive            = errors.New("service not active")
	ErrPlatformUnknown             = errors.New("platform unknown")
	ErrPlatformTaskDefIncompatible = errors.New("platform task definition incompatibility")
	ErrUnsupportedFeature          = errors.New("unsupported feature")
	ErrUpdateInProgress            = errors.New("update in progress")
	ErrConflict                    = errors.New("conflict")
	ErrNamespaceNotFound           = errors.New("namespace not found")
	ErrServiceDeploymentNotFound   = errors.New("service deployment not found")
	ErrTaskSetNotFound             = errors.New("task set not found")
	ErrNoUpdateAvailable           = errors.New("no update available")
	ErrMissingVersion              = errors.New("missing version")
	ErrBlocked                     = errors.New("blocked")
	ErrTargetNotConnected          = errors.New("target not connected")
)

// Error is a categorised error with a client-facing message.
type Error struct {
	Kind error  // one of the Err* categories above
	Msg  string // shown to the client as the ECS error message
}

func (e *Error) Error() string { return e.Msg }

// Unwrap lets errors.Is(err, ErrInvalidParameter) and friends work.
func (e *Error) Unwrap() error { return e.Kind }

// Errorf builds an *Error of the given category.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
