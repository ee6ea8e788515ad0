//! The drill's admin: the control plane's `/v1` API with an admin JWT, as the `sourcegate` CLI
//! calls it (`PUT /v1/configs/{key}` with `expectedVersion`, `POST …/rollback`, the history).

use serde_json::{Value, json};
use sourcegate_contract::CONFIG_KEY;

use super::DrillError;

pub(super) struct Admin {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) token: String,
}

impl Admin {
    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Value, DrillError> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| DrillError::Admin(e.to_string()))?;
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

    pub(super) async fn current(&self) -> Result<Value, DrillError> {
        self.call(
            self.http
                .get(format!("{}/v1/configs/{CONFIG_KEY}", self.base)),
        )
        .await
    }

    pub(super) async fn set(&self, value: Value, reason: &str) -> Result<u64, DrillError> {
        let expected = self.current().await?["version"].as_u64();
        let body = self
            .call(
                self.http
                    .put(format!("{}/v1/configs/{CONFIG_KEY}", self.base))
                    .json(&json!({"value": value, "reason": reason, "expectedVersion": expected})),
            )
            .await?;
        version_of(&body)
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

    pub(super) async fn history_versions(&self) -> Result<Vec<u64>, DrillError> {
        let body = self
            .call(self.http.get(format!(
                "{}/v1/configs/{CONFIG_KEY}/history?limit=100",
                self.base
            )))
            .await?;
        let mut v: Vec<u64> = body["items"]
            .as_array()
            .map(|items| items.iter().filter_map(|i| i["version"].as_u64()).collect())
            .unwrap_or_default();
        v.sort_unstable();
        Ok(v)
    }
}

fn version_of(body: &Value) -> Result<u64, DrillError> {
    body["version"]
        .as_u64()
        .ok_or_else(|| DrillError::Admin(format!("no version in {body}")))
}
