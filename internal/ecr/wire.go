package ecr

import "github.com/berth/berth/internal/api/wire"

// Request and response shapes of the operations served, with the member
// names of the ECR API model (ecr 2015-09-21). Optional scalars are
// pointers where absence differs from the zero value. Timestamps are
// wire.Time: epoch seconds as JSON numbers, as the AWS JSON protocols
// carry them.

type tag struct {
	Key   *string `json:"Key"`
	Value *string `json:"Value"`
}

type imageScanningConfiguration struct {
	ScanOnPush bool `json:"scanOnPush"`
}

type encryptionConfiguration struct {
	EncryptionType string `json:"encryptionType"`
	KmsKey         string `json:"kmsKey,omitempty"`
}

type repository struct {
	RepositoryArn              string                      `json:"repositoryArn"`
	RegistryID                 string                      `json:"registryId"`
	RepositoryName             string                      `json:"repositoryName"`
	RepositoryURI              string                      `json:"repositoryUri"`
	CreatedAt                  *wire.Time                  `json:"createdAt,omitempty"`
	ImageTagMutability         string                      `json:"imageTagMutability"`
	ImageScanningConfiguration *imageScanningConfiguration `json:"imageScanningConfiguration,omitempty"`
	EncryptionConfiguration    *encryptionConfiguration    `json:"encryptionConfiguration,omitempty"`
}

type createRepositoryRequest struct {
	RegistryID                 *string                     `json:"registryId"`
	RepositoryName             *string                     `json:"repositoryName"`
	Tags                       []tag                       `json:"tags"`
	ImageTagMutability         *string                     `json:"imageTagMutability"`
	ImageScanningConfiguration *imageScanningConfiguration `json:"imageScanningConfiguration"`
	EncryptionConfiguration    *encryptionConfiguration    `json:"encryptionConfiguration"`
}

type repositoryResponse struct {
	Repository repository `json:"repository"`
}

type describeRepositoriesRequest struct {
	RegistryID      *string  `json:"registryId"`
	RepositoryNames []string `json:"repositoryNames"`
	NextToken       *string  `json:"nextToken"`
	MaxResults      *int32   `json:"maxResults"`
}

type describeRepositoriesResponse struct {
	Repositories []repository `json:"repositories"`
	NextToken    string       `json:"nextToken,omitempty"`
}

type deleteRepositoryRequest struct {
	RegistryID     *string `json:"registryId"`
	RepositoryName *string `json:"repositoryName"`
	Force          bool    `json:"force"`
}

// repoRef is the part every per-repository request has.
type repoRef struct {
	RegistryID     *string `json:"registryId"`
	RepositoryName *string `json:"repositoryName"`
}

type putImageTagMutabilityRequest struct {
	repoRef
	ImageTagMutability *string `json:"imageTagMutability"`
}

type putImageTagMutabilityResponse struct {
	RegistryID         string `json:"registryId"`
	RepositoryName     string `json:"repositoryName"`
	ImageTagMutability string `json:"imageTagMutability"`
}

type imageIdentifier struct {
	ImageDigest string `json:"imageDigest,omitempty"`
	ImageTag    string `json:"imageTag,omitempty"`
}

// requestImageID is an imageIdentifier as a request carries it: absent
// and empty members differ.
type requestImageID struct {
	ImageDigest *string `json:"imageDigest"`
	ImageTag    *string `json:"imageTag"`
}

// echo is the identifier as the client sent it, for failures.
func (id requestImageID) echo() imageIdentifier {
	var out imageIdentifier
	if id.ImageDigest != nil {
		out.ImageDigest = *id.ImageDigest
	}
	if id.ImageTag != nil {
		out.ImageTag = *id.ImageTag
	}
	return out
}

type tagStatusFilter struct {
	TagStatus *string `json:"tagStatus"`
}

type listImagesRequest struct {
	repoRef
	NextToken  *string          `json:"nextToken"`
	MaxResults *int32           `json:"maxResults"`
	Filter     *tagStatusFilter `json:"filter"`
}

type listImagesResponse struct {
	ImageIDs  []imageIdentifier `json:"imageIds"`
	NextToken string            `json:"nextToken,omitempty"`
}

type describeImagesRequest struct {
	repoRef
	ImageIDs   []requestImageID `json:"imageIds"`
	NextToken  *string          `json:"nextToken"`
	MaxResults *int32           `json:"maxResults"`
	Filter     *tagStatusFilter `json:"filter"`
}

type imageDetail struct {
	RegistryID             string     `json:"registryId"`
	RepositoryName         string     `json:"repositoryName"`
	ImageDigest            string     `json:"imageDigest"`
	ImageTags              []string   `json:"imageTags,omitempty"`
	ImageSizeInBytes       int64      `json:"imageSizeInBytes"`
	ImagePushedAt          *wire.Time `json:"imagePushedAt,omitempty"`
	ImageManifestMediaType string     `json:"imageManifestMediaType,omitempty"`
	ArtifactMediaType      string     `json:"artifactMediaType,omitempty"`
	LastRecordedPullTime   *wire.Time `json:"lastRecordedPullTime,omitempty"`
}

type describeImagesResponse struct {
	ImageDetails []imageDetail `json:"imageDetails"`
	NextToken    string        `json:"nextToken,omitempty"`
}

type batchGetImageRequest struct {
	repoRef
	ImageIDs           []requestImageID `json:"imageIds"`
	AcceptedMediaTypes []string         `json:"acceptedMediaTypes"`
}

type image struct {
	RegistryID             string          `json:"registryId"`
	RepositoryName         string          `json:"repositoryName"`
	ImageID                imageIdentifier `json:"imageId"`
	ImageManifest          string          `json:"imageManifest,omitempty"`
	ImageManifestMediaType string          `json:"imageManifestMediaType,omitempty"`
}

type imageFailure struct {
	ImageID       imageIdentifier `json:"imageId"`
	FailureCode   string          `json:"failureCode"`
	FailureReason string          `json:"failureReason"`
}

type batchGetImageResponse struct {
	Images   []image        `json:"images"`
	Failures []imageFailure `json:"failures"`
}

type batchDeleteImageRequest struct {
	repoRef
	ImageIDs []requestImageID `json:"imageIds"`
}

type batchDeleteImageResponse struct {
	ImageIDs []imageIdentifier `json:"imageIds"`
	Failures []imageFailure    `json:"failures"`
}

type putImageRequest struct {
	repoRef
	ImageManifest          *string `json:"imageManifest"`
	ImageManifestMediaType *string `json:"imageManifestMediaType"`
	ImageTag               *string `json:"imageTag"`
	ImageDigest            *string `json:"imageDigest"`
}

type putImageResponse struct {
	Image image `json:"image"`
}

type getAuthorizationTokenRequest struct {
	RegistryIDs []string `json:"registryIds"`
}

type authorizationData struct {
	AuthorizationToken string     `json:"authorizationToken"`
	ExpiresAt          *wire.Time `json:"expiresAt"`
	ProxyEndpoint      string     `json:"proxyEndpoint"`
}

type getAuthorizationTokenResponse struct {
	AuthorizationData []authorizationData `json:"authorizationData"`
}

type putLifecyclePolicyRequest struct {
	repoRef
	LifecyclePolicyText *string `json:"lifecyclePolicyText"`
}

type lifecyclePolicyResponse struct {
	RegistryID          string     `json:"registryId"`
	RepositoryName      string     `json:"repositoryName"`
	LifecyclePolicyText string     `json:"lifecyclePolicyText"`
	LastEvaluatedAt     *wire.Time `json:"lastEvaluatedAt,omitempty"`
}

type tagResourceRequest struct {
	ResourceArn *string `json:"resourceArn"`
	Tags        []tag   `json:"tags"`
}

type untagResourceRequest struct {
	ResourceArn *string  `json:"resourceArn"`
	TagKeys     []string `json:"tagKeys"`
}

type listTagsForResourceRequest struct {
	ResourceArn *string `json:"resourceArn"`
}

type listTagsResponse struct {
	Tags []tag `json:"tags"`
}

type empty struct{}
