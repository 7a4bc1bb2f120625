//! `storage.s3` as an S3 client and the settings every write carries.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::{
    config::{Credentials, RequestChecksumCalculation, ResponseChecksumValidation},
    types::{ObjectCannedAcl, ServerSideEncryption, StorageClass},
};

use crate::config::S3 as S3Config;

/// What distribution sends with every object it creates (PutObject,
/// CreateMultipartUpload, CopyObject).
#[derive(Debug, Clone, Default)]
pub(super) struct WriteOptions {
    pub storage_class: Option<StorageClass>,
    pub acl: Option<ObjectCannedAcl>,
    pub encryption: Option<ServerSideEncryption>,
    pub kms_key: Option<String>,
}

/// A request builder (PutObject, CreateMultipartUpload or CopyObject: three
/// SDK types with the same setters) with berth's content type and the
/// `WriteOptions` every new object carries.
macro_rules! new_object {
    ($builder:expr, $w:expr) => {
        $builder
            .content_type($crate::storage::s3::CONTENT_TYPE)
            .set_storage_class($w.storage_class.clone())
            .set_acl($w.acl.clone())
            .set_server_side_encryption($w.encryption.clone())
            .set_ssekms_key_id($w.kms_key.clone())
    };
}
pub(super) use new_object;

/// Part sizes and copy limits (distribution's names).
#[derive(Debug, Clone, Copy)]
pub(super) struct Sizes {
    /// `chunksize`: parts of an append.
    pub chunk: u64,
    /// `multipartcopychunksize`.
    pub copy_chunk: u64,
    /// `multipartcopymaxconcurrency`.
    pub copy_concurrency: usize,
    /// `multipartcopythresholdsize`: larger objects are copied part by part.
    pub copy_threshold: u64,
}

/// The client for `storage.s3`. Credentials are `accesskey`/`secretkey`
/// when set, else the standard AWS chain (environment, profile, web
/// identity, container and instance roles), as distribution does.
pub(super) async fn client(c: &S3Config) -> anyhow::Result<aws_sdk_s3::Client> {
    refuse_unsupported(c)?;
    let region = if c.region.is_empty() { "us-east-1".to_owned() } else { c.region.clone() };
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region));
    if let (Some(access), Some(secret)) = (&c.accesskey, &c.secretkey) {
        loader =
            loader.credentials_provider(Credentials::new(access.expose(), secret.expose(), None, None, "storage.s3"));
    }
    if let Some(endpoint) = &c.regionendpoint {
        loader = loader.endpoint_url(endpoint_url(endpoint, c.secure));
    }
    if c.usedualstack {
        loader = loader.use_dual_stack(true);
    }
    if c.usefipsendpoint {
        loader = loader.use_fips(true);
    }
    if let Some(agent) = &c.useragent {
        loader = loader.app_name(
            aws_config::AppName::new(agent.clone())
                .map_err(|e| anyhow::anyhow!("storage.s3.useragent {agent:?}: {e}"))?,
        );
    }
    let shared = loader.load().await;
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(c.forcepathstyle)
        .accelerate(c.accelerate)
        // S3-compatible servers (garage, Ceph, older MinIO) do not all take
        // the SDK's newer default trailing checksums; distribution sends none.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Ok(aws_sdk_s3::Client::from_conf(config))
}

/// Settings distribution has but the AWS SDK cannot honour: refused, never
/// silently dropped.
fn refuse_unsupported(c: &S3Config) -> anyhow::Result<()> {
    if !c.v4auth {
        anyhow::bail!("storage.s3.v4auth: false (signature version 2) is not supported by berth");
    }
    if c.skipverify {
        anyhow::bail!("storage.s3.skipverify: true is not supported by berth yet; trust the endpoint's CA instead");
    }
    Ok(())
}

/// `regionendpoint` as a URL: distribution accepts a bare host, whose
/// scheme `secure` picks.
fn endpoint_url(endpoint: &str, secure: bool) -> String {
    if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("{}://{endpoint}", if secure { "https" } else { "http" })
    }
}

/// `storageclass`, `objectacl`, `encrypt` and `keyid` for new objects.
pub(super) fn write_options(c: &S3Config) -> WriteOptions {
    let encryption = match (c.encrypt, &c.keyid) {
        (false, _) => None,
        (true, None) => Some(ServerSideEncryption::Aes256),
        (true, Some(_)) => Some(ServerSideEncryption::AwsKms),
    };
    WriteOptions {
        // distribution's "NONE" leaves the class to the bucket's default.
        storage_class: (c.storageclass != "NONE").then(|| StorageClass::from(c.storageclass.as_str())),
        acl: Some(ObjectCannedAcl::from(c.objectacl.as_str())),
        encryption,
        kms_key: c.keyid.clone().filter(|_| c.encrypt),
    }
}

/// Part and copy sizes from the configuration.
pub(super) fn sizes(c: &S3Config) -> Sizes {
    Sizes {
        chunk: c.chunksize,
        copy_chunk: c.multipartcopychunksize.max(super::MIN_PART),
        copy_concurrency: usize::try_from(c.multipartcopymaxconcurrency).unwrap_or(usize::MAX).max(1),
        copy_threshold: c.multipartcopythresholdsize.min(super::MAX_SINGLE_COPY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_take_their_scheme_from_secure() {
        assert_eq!(endpoint_url("127.0.0.1:3900", false), "http://127.0.0.1:3900");
        assert_eq!(endpoint_url("s3.example.com", true), "https://s3.example.com");
        assert_eq!(endpoint_url("http://h:1", true), "http://h:1");
    }

    #[test]
    fn encryption_follows_encrypt_and_keyid() {
        let mut c = S3Config { encrypt: true, keyid: Some("k".into()), ..S3Config::default() };
        let w = write_options(&c);
        assert_eq!((w.encryption, w.kms_key.as_deref()), (Some(ServerSideEncryption::AwsKms), Some("k")));
        c.encrypt = false;
        assert!(write_options(&c).kms_key.is_none());
        c.storageclass = "NONE".into();
        assert!(write_options(&c).storage_class.is_none());
    }
}
