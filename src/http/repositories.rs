//! `/v2/_berth/repositories/<name>`: DELETE removes a whole repository
//! (berth's administrative route; see `router`).

use http::{Method, StatusCode};

use super::{
    App,
    error::ApiError,
    request::Req,
    response::{self, Reply},
};
use crate::{
    notifications::{Action, Target},
    registry::RepoName,
};

/// Serves one repository request: 202 once the repository is gone.
pub async fn handle(app: &App, req: &Req, name: &RepoName) -> Result<Reply, ApiError> {
    match req.method {
        Method::DELETE => {
            app.registry.delete_repository(name).await?;
            // distribution's repository-deleted event: a delete naming only
            // the repository.
            app.publish(req, Action::Delete, || Target { repository: name.to_string(), ..Target::default() });
            Ok(response::empty(StatusCode::ACCEPTED))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}
