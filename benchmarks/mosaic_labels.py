"""Label statistics of the multi-label mosaics (docs/multi-label.md): the split, each class's share of the
database, labels per object, distinct label vectors, and how much of the database a query or a target shares
a label with (the chance level of MAP and of t-MAP).

    python benchmarks/mosaic_labels.py            # the default set: 60,000 database mosaics, seed 0
"""

from __future__ import annotations

import argparse

import numpy as np

from hashattack.data.fashion_mnist import CLASS_NAMES
from hashattack.data.mosaic import DATABASE, mosaic_fashion_retrieval, mosaic_topk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mosaics", type=int, default=DATABASE, help="database mosaics")
    parser.add_argument("--n-t", type=int, default=9, help="a target label vector needs more than n_t objects")
    args = parser.parse_args()
    data = mosaic_fashion_retrieval(database=args.mosaics)
    db, query = data.database.labels.numpy().astype(np.int64), data.query.labels.numpy().astype(np.int64)
    print(f"train {len(data.train)}, database {len(db)}, query {len(query)}, R of MAP@R {mosaic_topk(args.mosaics)}\n")
    print("| class | share of the database (%) |\n|---|---|")
    for name, share in zip(CLASS_NAMES, db.mean(0)):
        print(f"| {name} | {100 * share:.1f} |")
    sizes = np.bincount(db.sum(1), minlength=5)[1:] / len(db)
    print(f"\nlabels per object: mean {db.sum(1).mean():.2f}; share with 1, 2, 3, 4 labels: "
          + ", ".join(f"{100 * s:.1f} %" for s in sizes))
    vectors, counts = np.unique(db, axis=0, return_counts=True)
    eligible = vectors[counts > args.n_t]
    print(f"distinct label vectors: {len(vectors)}, of which {len(eligible)} with more than {args.n_t} objects")
    print(f"share of the database sharing a label with a query: {100 * (query @ db.T > 0).mean():.1f} %")
    print(f"... with a target label vector drawn uniformly among those {len(eligible)}: "
          f"{100 * (db @ eligible.T > 0).mean():.1f} %")


if __name__ == "__main__":
    main()
