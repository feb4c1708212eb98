"""Run by `torchrun` from test_trainer.py: one short DDP training run in which every rank saves the parameters it
ended with and the batches it trained on, so the test can compare the ranks with each other."""

import json
import sys
from pathlib import Path

import torch

from mobilerepro.train import trainer

config = trainer.TrainConfig(**json.loads(sys.argv[1]))
run = trainer.Trainer(config)
run.fit()
rank = run.distributed.rank
torch.save({"parameters": {name: p.detach().clone() for name, p in run.model.named_parameters()},
            "batches": run.epoch_batches(0)}, Path(config.output_dir) / f"rank{rank}.pt")
