package etcdtest

import "testing"

func TestStart(t *testing.T) {
	srv := Start(t)
	cli := srv.Client(t)
	if _, err := cli.Put(t.Context(), "/k", "v"); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(t.Context(), "/k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("Get = %v", resp.Kvs)
	}
}
