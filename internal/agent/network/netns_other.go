//go:build !linux

package network

import "errors"

var errUnsupported = errors.New("network namespaces need Linux")

func createNetNS(string) error     { return errUnsupported }
func isNetNS(string) (bool, error) { return false, nil }
func removeNetNS(string) error     { return nil }
