"""Step 1 of the release chain: customers' raw search logs -> one typed event frame per customer."""

from kwrec.core.ingest.customer_config import CustomerConfig, load_customer_config
from kwrec.core.ingest.quarantine import Quarantine
from kwrec.core.ingest.reader import EVENT_SCHEMA, fingerprint_inputs, input_files, read_customer_logs
from kwrec.core.ingest.source import CustomerLogs, LocalLogSource, LogFile, LogSource, list_customers

__all__ = [
    "EVENT_SCHEMA",
    "NO_BANS",
    "CustomerConfig",
    "CustomerLogs",
    "LiveBans",
    "LocalLogSource",
    "LogFile",
    "LogSource",
    "Quarantine",
    "fingerprint_inputs",
    "input_files",
    "list_customers",
    "load_customer_config",
    "read_customer_logs",
]
