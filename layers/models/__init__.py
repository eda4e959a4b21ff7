"""The model zoo (`trax_rl.models` is an alias): each model a short function returning a
`Serial`, with Trax's names and signatures."""

from trax_rl.layers.models.atari_cnn import AtariCnn as AtariCnn
from trax_rl.layers.models.atari_cnn import FrameStack as FrameStack
from trax_rl.layers.models.mlp import MLP as MLP
from trax_rl.layers.models.resnet import Resnet50 as Resnet50
from trax_rl.layers.models.resnet import WideResnet as WideResnet
from trax_rl.layers.models.rnn import GRULM as GRULM
from trax_rl.layers.models.rnn import LSTMSeq2SeqAttn as LSTMSeq2SeqAttn
from trax_rl.layers.models.rnn import RNNLM as RNNLM
from trax_rl.layers.models.transformer import Transformer as Transformer
from trax_rl.layers.models.transformer import TransformerDecoder as TransformerDecoder
from trax_rl.layers.models.transformer import TransformerEncoder as TransformerEncoder
from trax_rl.layers.models.transformer import TransformerLM as TransformerLM
from trax_rl.layers.models.bert import BertEncoder as BertEncoder
from trax_rl.layers.models.bert import SentenceEncoder as SentenceEncoder
from trax_rl.layers.models.bert import convert_bert_weights as convert_bert_weights
from trax_rl.layers.models.bert import load_sentence_encoder as load_sentence_encoder
from trax_rl.layers.models.reformer import Reformer as Reformer
from trax_rl.layers.models.reformer import ReformerLM as ReformerLM
