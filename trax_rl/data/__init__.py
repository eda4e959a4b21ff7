"""Input pipelines with Trax's API: `import trax_rl.data as data`.

Streams are Python iterators of tuples of numpy arrays. Sources (`TFDS`, `CSV`,
`JSONL`, `TextLines`, `Arrays`) start them; combinators (`Tokenize`, `Shuffle`,
`FilterByLength`, `BucketByLength`, `AddLossWeights`, ...) transform them; `Serial`
composes both. Everything is deterministic given its seeds.
"""

from trax_rl.data.inputs import AddLossWeights as AddLossWeights
from trax_rl.data.inputs import Batch as Batch
from trax_rl.data.inputs import BucketByLength as BucketByLength
from trax_rl.data.inputs import FilterByLength as FilterByLength
from trax_rl.data.inputs import Log as Log
from trax_rl.data.inputs import Serial as Serial
from trax_rl.data.inputs import Shuffle as Shuffle
from trax_rl.data.inputs import TruncateToLength as TruncateToLength
from trax_rl.data.inputs import add_loss_weights as add_loss_weights
from trax_rl.data.inputs import batch as batch
from trax_rl.data.inputs import bucket_by_length as bucket_by_length
from trax_rl.data.inputs import pad_to_max_dims as pad_to_max_dims
from trax_rl.data.inputs import shuffle as shuffle
from trax_rl.data.inputs import skip as skip
from trax_rl.data.inputs import truncate_to_length as truncate_to_length
from trax_rl.data.sources import CSV as CSV
from trax_rl.data.sources import JSONL as JSONL
from trax_rl.data.sources import TFDS as TFDS
from trax_rl.data.sources import Arrays as Arrays
from trax_rl.data.sources import TextLines as TextLines
from trax_rl.data.sources import default_data_dir as default_data_dir
from trax_rl.data.text import ConvertToUnicode as ConvertToUnicode
from trax_rl.data.text import Detokenize as Detokenize
from trax_rl.data.text import Tokenize as Tokenize
from trax_rl.data.text import detokenize as detokenize
from trax_rl.data.text import tokenize as tokenize
from trax_rl.data.text import train_vocab as train_vocab
from trax_rl.data.text import vocab_size as vocab_size


def prepare(dataset_name, data_dir=None):
    """Prepares a dataset trax_rl builds from local files (see `trax_rl.data.builders`)."""
    from trax_rl.data import builders  # Lazy: tensorflow_datasets is slow to import.
    return builders.prepare(dataset_name, data_dir)
