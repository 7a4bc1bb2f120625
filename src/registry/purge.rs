//! Upload purging (`storage.maintenance.uploadpurging`), as distribution:
//! upload sessions that started longer ago than a given age are deleted,
//! whatever they hold, so abandoned pushes do not fill the disk.

use std::time::SystemTime;

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{RegistryError, layout};

/// One session that was (or, in a dry run, would be) purged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgedUpload {
    /// The repository directory it lived in.
    pub repository: String,
    /// The session id.
    pub id: String,
}

impl super::Registry {
    /// Deletes upload sessions started before `older_than`; with `dry_run`,
    /// only lists them.
    pub async fn purge_uploads(
        &self,
        older_than: SystemTime,
        dry_run: bool,
    ) -> Result<Vec<PurgedUpload>, RegistryError> {
        let mut purged = Vec::new();
        for repository in self.directories_holding("_uploads").await? {
            let dir = format!("{}/{repository}/_uploads", layout::repositories());
            for id in self.list_or_empty(&dir).await? {
                if self.upload_started(&format!("{dir}/{id}")).await? >= older_than {
                    continue;
                }
                if !dry_run {
                    self.driver.delete(&format!("{dir}/{id}")).await?;
                    self.uploads.forget(&id);
                }
                purged.push(PurgedUpload { repository: repository.clone(), id });
            }
        }
        Ok(purged)
    }

    /// When a session started: its `startedat` as distribution writes it, or
    /// the directory's modification time when that is missing or unreadable.
    async fn upload_started(&self, dir: &str) -> Result<SystemTime, RegistryError> {
        if let Ok(text) = self.driver.get(&format!("{dir}/startedat")).await
            && let Ok(when) = OffsetDateTime::parse(String::from_utf8_lossy(&text).trim(), &Rfc3339)
        {
            return Ok(when.into());
        }
        match self.driver.stat(dir).await {
            Ok(stat) => Ok(stat.modified),
            Err(e) if e.is_not_found() => Ok(SystemTime::now()),
            Err(e) => Err(e.into()),
        }
    }
}
