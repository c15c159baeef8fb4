//! Regression tests from real-world pgbackrest.conf files (issue 13): cloud keys written
//! in the file, and guessable cipher passphrases. No message shows a secret.

use super::*;

const S3: &str = "\
[global]
repo1-type=s3
repo1-s3-bucket=backups
repo1-s3-endpoint=s3.amazonaws.com
repo1-s3-region=eu-west-1
repo1-s3-key=AKIAEXAMPLEKEYID0000
repo1-s3-key-secret=wJalrXUtnFEMIexampleSECRETkey00000000000
repo1-cipher-type=aes-256-cbc
repo1-cipher-pass=changeme
repo2-type=gcs
repo2-gcs-bucket=b
repo2-gcs-key=/etc/pgbackrest/gcs.json
repo3-type=azure
repo3-azure-container=c
repo3-azure-key=YXp1cmVrZXlleGFtcGxlMDAwMDAwMDAwMDAwMDAwMA==
repo3-cipher-type=aes-256-cbc
repo3-cipher-pass=Rk3v-99aZ-Qm2t-LLp0-x7Yh
[main]
pg1-path=/var/lib/postgresql/15/main
";

#[test]
fn cloud_keys_in_the_file_are_reported_without_their_value() {
    let e = run(vec![ini_doc("pgbackrest.conf", S3)], "");
    let keys: Vec<(Severity, u32)> = e
        .findings
        .iter()
        .filter(|f| f.code == "cloud-key-in-config")
        .map(|f| (f.severity, f.location.line))
        .collect();
    // The key id, the secret and the Azure key; the GCS key is a file name.
    assert_eq!(
        keys,
        [(Severity::Low, 6), (Severity::Low, 7), (Severity::Low, 15)]
    );
    for f in &e.findings {
        for secret in [
            "AKIAEXAMPLE",
            "wJalrXUtn",
            "YXp1cmVr",
            "changeme",
            "Rk3v-99aZ",
        ] {
            assert!(!f.message.contains(secret), "{}", f.message);
        }
    }
    let secret = e.findings.iter().find(|f| f.location.line == 7).unwrap();
    assert!(
        secret.message.contains("PGBACKREST_REPO1_S3_KEY_SECRET"),
        "{}",
        secret.message
    );
    // A GCS token is a key.
    let token = S3.replace(
        "repo2-gcs-key=/etc",
        "repo2-gcs-key-type=token\nrepo2-gcs-key=ya29.token",
    );
    let e = run(vec![ini_doc("pgbackrest.conf", &token)], "");
    assert!(
        e.findings
            .iter()
            .any(|f| f.code == "cloud-key-in-config" && f.location.line == 13),
        "{:?}",
        codes(&e)
    );
}

#[test]
fn weak_cipher_passphrase() {
    let e = run(vec![ini_doc("pgbackrest.conf", S3)], "");
    let weak: Vec<(Severity, u32)> = e
        .findings
        .iter()
        .filter(|f| f.code == "weak-credentials")
        .map(|f| (f.severity, f.location.line))
        .collect();
    assert_eq!(weak, [(Severity::Low, 9)]);
}
