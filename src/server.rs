//! Assembles a running registry from a configuration: storage driver,
//! registry, http app, listener.

use std::{net::SocketAddr, sync::Arc};

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{
    config::{Config, Secret, StorageDriver},
    health::Health,
    http::{self, App, Auth, Listener, Settings, Transport, UploadSigner, Urls},
    metrics::Metrics,
    registry::{Options, Registry},
    storage::{Driver, Filesystem, InMemory},
};

/// A registry serving on a socket.
pub struct Server {
    /// The address it listens on.
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Server {
    /// Builds everything the configuration describes and starts serving.
    pub async fn start(config: &Config) -> anyhow::Result<Server> {
        let driver: Arc<dyn Driver> = match &config.storage.driver {
            StorageDriver::Filesystem(fs) => Arc::new(Filesystem::open(&fs.rootdirectory)?),
            StorageDriver::InMemory => Arc::new(InMemory::new()),
            other => anyhow::bail!("storage driver {} is not supported by berth yet", other.name()),
        };
        if config.http.secret.is_none() {
            tracing::warn!(
                "http.secret is not set: using a random one, so uploads in progress do not survive a restart"
            );
        }
        let registry = Registry::new(driver, Options { delete_enabled: config.storage.delete.enabled });
        let settings = Settings {
            signer: UploadSigner::new(config.http.secret.as_ref().map(Secret::expose)),
            auth: Auth::None,
            read_only: false,
            max_catalog_entries: config.catalog.maxentries,
            headers: config.http.headers.clone(),
            urls: Urls::default(),
            health: Arc::new(Health::default()),
            metrics: Arc::new(Metrics::default()),
            access_log: false,
        };
        let app = Arc::new(App::new(registry, settings)?);
        let listener = TcpListener::bind(&config.addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {} (http.addr): {e}", config.addr))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let transport = Transport { tls: None, http2: true, drain: std::time::Duration::from_secs(10) };
        let task = tokio::spawn(http::serve(Listener::Tcp(listener), transport, app, async {
            let _ = stopped.await;
        }));
        Ok(Server { addr, stop, task })
    }

    /// Stops accepting, drains requests in flight, and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
