package registry

import (
	"path"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Storage-driver paths. The distribution library keeps its layout private,
// but it is documented (registry/storage/paths.go) and fixed ("v2"); the
// image operations and the garbage collector read it directly. Berth's own
// records live under berthRoot, outside distribution's tree.
const (
	distRoot     = "/docker/registry/v2"
	reposRoot    = distRoot + "/repositories"
	blobsRoot    = distRoot + "/blobs"
	berthRoot    = "/berth/v1"
	berthRepos   = berthRoot + "/repositories"
	lastPullDir  = "_lastpull"
	manifestsDir = "_manifests"
	layersDir    = "_layers"
	uploadsDir   = "_uploads"
)

// blobDir is the directory of a blob in the global blob store.
func blobDir(d digest.Digest) string {
	hex := d.Encoded()
	return path.Join(blobsRoot, string(d.Algorithm()), hex[:2], hex)
}

// blobDataPath is a blob's content.
func blobDataPath(d digest.Digest) string { return path.Join(blobDir(d), "data") }

// revisionsDir holds a repository's manifest revision links.
func revisionsDir(repo string) string {
	return path.Join(reposRoot, repo, manifestsDir, "revisions")
}

// revisionLinkPath is the link that makes a manifest part of a repository.
func revisionLinkPath(repo string, d digest.Digest) string {
	return path.Join(revisionsDir(repo), string(d.Algorithm()), d.Encoded(), "link")
}

// lastPullPath is where Berth records when a manifest was last pulled.
func lastPullPath(repo string, d digest.Digest) string {
	return path.Join(berthRepos, repo, lastPullDir, string(d.Algorithm()), d.Encoded())
}

// linkDigest parses the ".../<algorithm>/<hex>/link" tail of a link path.
func linkDigest(p string) (digest.Digest, bool) {
	dir, file := path.Split(p)
	if file != "link" {
		return "", false
	}
	dir = strings.TrimSuffix(dir, "/")
	rest, hex := path.Split(dir)
	alg := path.Base(rest)
	d := digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
	if d.Validate() != nil {
		return "", false
	}
	return d, true
}
