// Package sigv4 verifies AWS Signature Version 4 header-signed requests the
// way AWS's own front end does, so that unmodified AWS SDKs and the AWS CLI
// can call Berth with credentials Berth issued.
//
// A request carries "Authorization: AWS4-HMAC-SHA256 Credential=AKID/
// yyyymmdd/region/service/aws4_request, SignedHeaders=a;b;c, Signature=hex"
// and an X-Amz-Date header. Verify checks, in AWS's order: the header's
// shape, the date format, the clock skew, that host and x-amz-date are
// signed, the algorithm, the credential scope (region, service, terminator,
// date), the access key, and finally the signature itself.
//
// The signature is recomputed by re-signing a copy of the request that holds
// only the signed headers with aws-sdk-go-v2's own signer, so Berth shares
// AWS's canonicalisation code rather than re-implementing it, and the result
// is compared in constant time. Two details make the copy faithful: the
// signer signs content-length whenever the request has a body, while
// botocore (the AWS CLI) never does, so the copy carries a content length
// only when the client signed content-length; and headers the signer would
// skip (user-agent, expect, ...) are still signed when the client listed
// them, because the copy carries every signed header under its lower-case
// name, which the signer's ignore list does not match.
//
// Replay: like AWS, Berth does not remember signatures. A validly signed
// request replayed while its X-Amz-Date is within MaxSkew (15 minutes by
// default) of the server clock is accepted again: SDK retries legitimately
// resend identical signed requests. Outside the window a replay fails as
// expired. Callers that need stronger guarantees use TLS and idempotent
// operations (ECS's clientToken), exactly as with AWS.
//
// Not supported: query-string (presigned) authentication, temporary
// credentials (X-Amz-Security-Token), the Date header as the only date, and
// a signed content-length of 0 (the SDK signer cannot produce it; no AWS SDK
// sends it). Each is rejected with a message that says so.
package sigv4
