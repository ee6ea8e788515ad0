//! The drill's admin: the control plane's `/v1` API with an admin JWT, as the `sourcegate` CLI
//! calls it (`PUT /v1/configs/{key}` with `expectedVersion`, `POST …/rollback`, the history).

use serde_json::{Value, json};
use sourcegate_contract::CONFIG_KEY;

use std::time::Duration;

use sourcegate_control_plane::auth::{Claims, Role, mint_token};

use super::DrillError;

pub(super) struct Admin {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) token: String,
}

impl Admin {
    /// An admin of `server`: a fresh admin JWT signed with its secret, a 10 s timeout.
    pub(super) fn of(server: &sourcegate_control_plane::Server) -> Result<Admin, DrillError> {
        let claims = Claims::new(Role::Authenticated, Some(uuid::Uuid::new_v4()), true, 3600);
        let token = mint_token(server.jwt_secret(), &claims)
            .map_err(|e| DrillError::ControlPlane(e.to_string()))?;
        Ok(Admin {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| DrillError::Admin(e.to_string()))?,
            base: server.base_url(),
            token,
        })
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Value, DrillError> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| DrillError::Admin(e.to_string()))?;
        self.call_response(resp).await
    }

    async fn call_response(&self, resp: reqwest::Response) -> Result<Value, DrillError> {
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .map_err(|e| DrillError::Admin(e.to_string()))?;
        if !status.is_success() {
            return Err(DrillError::Admin(format!("{status}: {body}")));
        }
        Ok(body)
    }

    /// The current version of `key` (`None`: no document yet).
    async fn version(&self, key: &str) -> Result<Option<u64>, DrillError> {
        let resp = self
            .http
            .get(format!("{}/v1/configs/{key}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| DrillError::Admin(e.to_string()))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(self.call_response(resp).await?["version"].as_u64())
    }

    /// Sets the `marketplace_source` document; returns the version written.
    pub(super) async fn set(&self, value: Value, reason: &str) -> Result<u64, DrillError> {
        self.set_key(CONFIG_KEY, value, reason).await
    }

    /// Sets document `key` (expecting the version read just before); returns the version
    /// written.
    pub(super) async fn set_key(
        &self,
        key: &str,
        value: Value,
        reason: &str,
    ) -> Result<u64, DrillError> {
        let expected = self.version(key).await?;
        let body = self
            .call(
                self.http
                    .put(format!("{}/v1/configs/{key}", self.base))
                    .json(&json!({"value": value, "reason": reason, "expectedVersion": expected})),
            )
            .await?;
        version_of(&body)
    }

    /// `GET /v1/autopilot`: the policy, the decider's state and the latest decisions.
    pub(super) async fn autopilot(&self) -> Result<Value, DrillError> {
        self.call(self.http.get(format!("{}/v1/autopilot", self.base)))
            .await
    }

    pub(super) async fn rollback(&self, to: u64, reason: &str) -> Result<u64, DrillError> {
        let body = self
            .call(
                self.http
                    .post(format!("{}/v1/configs/{CONFIG_KEY}/rollback", self.base))
                    .json(&json!({"toVersion": to, "reason": reason})),
            )
            .await?;
        version_of(&body)
    }

    /// The `marketplace_source` history: every version, and those the autopilot wrote
    /// (`changedRole` = `autopilot`), ascending.
    pub(super) async fn history_versions(&self) -> Result<(Vec<u64>, Vec<u64>), DrillError> {
        let body = self
            .call(self.http.get(format!(
                "{}/v1/configs/{CONFIG_KEY}/history?limit=100",
                self.base
            )))
            .await?;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        let versions = |autopilot_only: bool| {
            let mut v: Vec<u64> = items
                .iter()
                .filter(|i| !autopilot_only || i["changedRole"] == "autopilot")
                .filter_map(|i| i["version"].as_u64())
                .collect();
            v.sort_unstable();
            v
        };
        Ok((versions(false), versions(true)))
    }
}

fn version_of(body: &Value) -> Result<u64, DrillError> {
    body["version"]
        .as_u64()
        .ok_or_else(|| DrillError::Admin(format!("no version in {body}")))
}
