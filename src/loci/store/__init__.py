"""The history database: conversations, messages and executions with their full outputs."""

from loci.store.records import CompactionRecord as CompactionRecord
from loci.store.records import ConversationRecord as ConversationRecord
from loci.store.records import ConversationSummary as ConversationSummary
from loci.store.records import ExecutionRecord as ExecutionRecord
from loci.store.records import Item as Item
from loci.store.records import MessageRecord as MessageRecord
from loci.store.records import RecordStatus as RecordStatus
from loci.store.records import title_of as title_of
from loci.store.store import Store as Store

__all__ = [
    "CompactionRecord",
    "ConversationRecord",
    "ConversationSummary",
    "ExecutionRecord",
    "Item",
    "MessageRecord",
    "RecordStatus",
    "Store",
    "title_of",
]
