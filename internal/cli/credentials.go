package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth/berth/internal/api"
	"github.com/berth/berth/internal/credential"
	"github.com/berth/berth/internal/server"
)

// credentialsCmd manages the credentials a Berth server accepts. It signs
// its calls with an administrator credential read from a shared-credentials
// file (by default the one `berth dev`/`berth server` wrote in --data-dir).
func credentialsCmd(stdout io.Writer) *cobra.Command {
	var endpoint, dataDir, file, profile, region, caCert string
	client := func() (*adminClient, error) {
		path := file
		if path == "" {
			path = filepath.Join(dataDir, "credentials")
		}
		c, err := credential.ReadSharedFile(path, profile)
		if err != nil {
			return nil, fmt.Errorf("read administrator credential: %w", err)
		}
		hc := &http.Client{Timeout: 30 * time.Second}
		if caCert != "" {
			pem, err := os.ReadFile(caCert)
			if err != nil {
				return nil, fmt.Errorf("--ca-cert: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca-cert: no PEM certificate in %s", caCert)
			}
			hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		}
		return &adminClient{endpoint: endpoint, region: region, cred: c, http: hc}, nil
	}
	cmd := &cobra.Command{
		Use:   "credentials",
		Short: "List, create and delete the credentials Berth accepts",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&endpoint, "endpoint", "http://"+server.DefaultListen, "URL of the Berth API")
	pf.StringVar(&dataDir, "data-dir", defaultDataDir, "data dir whose credentials file holds an administrator credential")
	pf.StringVar(&file, "credentials-file", "", "shared-credentials file to sign with (default DATA_DIR/credentials)")
	pf.StringVar(&profile, "profile", "default", "profile of the credentials file to sign with")
	pf.StringVar(&region, "region", server.DefaultRegion, "region the server runs as")
	pf.StringVar(&caCert, "ca-cert", "", "PEM certificate(s) to trust for an https --endpoint (as the aws CLI's --ca-bundle)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List credentials (without secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			var out api.ListCredentialsResponse
			if err := c.call(cmd.Context(), "ListCredentials", api.ListCredentialsRequest{}, &out); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ACCESS KEY ID\tNAME\tADMIN\tCREATED")
			for _, cr := range out.Credentials {
				created := time.UnixMilli(int64(cr.CreatedAt * 1000)).UTC().Format(time.RFC3339)
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", cr.AccessKeyID, cr.Name, cr.Admin, created)
			}
			return tw.Flush()
		},
	}

	var name, writeFile, writeProfile string
	var admin bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a credential and print it (or write it to a shared-credentials file)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			var out api.CreateCredentialResponse
			if err := c.call(cmd.Context(), "CreateCredential", api.CreateCredentialRequest{Name: name, Admin: admin}, &out); err != nil {
				return err
			}
			cr := out.Credential
			if writeFile != "" {
				err := credential.WriteSharedFile(writeFile, writeProfile, credential.Credential{
					AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey, Name: cr.Name, Admin: cr.Admin})
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "created %s (%s); written to %s [%s] (mode 0600)\n", cr.AccessKeyID, cr.Name, writeFile, writeProfile)
				return nil
			}
			fmt.Fprintf(stdout, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", writeProfile, cr.AccessKeyID, cr.SecretAccessKey)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "name of the credential (it acts as IAM user NAME)")
	create.Flags().BoolVar(&admin, "admin", false, "allow this credential to manage credentials and account defaults")
	create.Flags().StringVar(&writeFile, "write", "", "write the new credential to this shared-credentials file instead of printing it")
	create.Flags().StringVar(&writeProfile, "write-profile", "default", "profile name for the new credential")
	create.MarkFlagRequired("name")

	del := &cobra.Command{
		Use:   "delete ACCESS_KEY_ID",
		Short: "Delete a credential; it stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			if err := c.call(cmd.Context(), "DeleteCredential", api.DeleteCredentialRequest{AccessKeyID: args[0]}, &api.DeleteCredentialResponse{}); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "deleted", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, create, del)
	return cmd
}
