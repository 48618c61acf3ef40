"""Stage download: read MARC reviews (bundled sample, local files or a Hub mirror)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from stages.lib.charts import category_chart, save_png
from stages.lib.data import (
    MARC_SCHEMA,
    SPLITS,
    rows_by_language,
    write_splits,
)
from stages.lib.errors import UserError, stage_entry
from stages.lib.io import atomic_outputs, csv_text, dumps_json
from stages.lib.marc import MARC_LANGUAGES, find_split_files, read_marc_file
from stages.lib.marc_checks import Origin, check_marc_table
from stages.lib.params import load_params, string, string_list

log = logging.getLogger("download")

SAMPLE_DIR = Path("data/sample")
OUTPUT = Path("data/download")
METRICS = Path("metrics/download.json")
PLOTS = Path("plots/download")

SPEC = {
    "source": string(),
    "languages": string_list(),
}


def check_languages(languages: list[str]) -> None:
    unknown = [lang for lang in languages if lang not in MARC_LANGUAGES]
    if unknown:
        raise UserError(f"params.yaml: download.languages has unknown language code "
                        f"{', '.join(map(repr, unknown))}; MARC's languages are "
                        f"{', '.join(MARC_LANGUAGES)}.")


def read_local(folder: Path, languages: list[str]) -> tuple[dict[str, pa.Table], dict]:
    """Read ``dataset_{lang}_{split}.json[.gz]`` files; return tables per split and a report."""
    if not folder.is_dir():
        raise UserError(f"params.yaml: download.source is {str(folder)!r}, which is not a folder. "
                        "Expected 'sample', a folder holding MARC's "
                        "dataset_{lang}_{train,dev,test}.json[.gz] files, or hf:<dataset id>.")
    report = {"dropped_rows": {}, "missing_splits": []}
    parts: dict[str, list[pa.Table]] = {split: [] for split in SPLITS}
    ids = []  # every row's, dropped ones too
    for language in languages:
        files = find_split_files(folder, language)
        if not files:
            raise UserError(f"{folder} has no files for language {language!r}: expected "
                            f"dataset_{language}_train.json (or .json.gz), and the dev and test "
                            "files. Remove the language from download.languages or add its "
                            "files.")
        for split in SPLITS:
            if split not in files:
                log.warning("%s: no %s split for %r; going on without it", folder, split,
                            language)
                report["missing_splits"].append(f"{language}/{split}")
                continue
            log.info("reading %s", files[split])
            table, review_ids, dropped = read_marc_file(files[split], language)
            if not table.num_rows:
                raise UserError(f"{files[split]}: every review has an empty review_body or "
                                "review_title, so none can be used.")
            parts[split].append(table)
            ids.append(review_ids)
            for reason, count in dropped.items():
                report["dropped_rows"][reason] = report["dropped_rows"].get(reason, 0) + count
    report["duplicate_review_ids"] = duplicate_ids(ids)
    return {split: _concat(tables) for split, tables in parts.items()}, report


def read_hub(source: str, languages: list[str]) -> tuple[dict[str, pa.Table], dict]:
    """Read a Hub dataset with MARC's columns and one config per language.

    Each split is checked as a MARC file is (stars, language, blank texts dropped);
    its text columns must be text, as in the files.
    """
    import datasets

    dataset_id, _, revision = source.removeprefix("hf:").partition("@")
    parts: dict[str, list[pa.Table]] = {split: [] for split in SPLITS}
    report = {"dropped_rows": {}, "missing_splits": []}
    ids = []  # every row's, dropped ones too, as for the files
    for language in languages:
        try:
            loaded = datasets.load_dataset(dataset_id, language, revision=revision or None)
        except Exception as err:  # network, auth, missing id or config: all user-fixable
            raise UserError(
                f"params.yaml: download.source {source!r}: could not load config {language!r} "
                f"from the Hugging Face Hub ({type(err).__name__}: {str(err).splitlines()[0]}). "
                "Check the dataset id and your network (and HF_TOKEN for a private mirror), or "
                "download MARC's dataset_{lang}_{train,dev,test}.json files and set "
                "download.source to their folder.") from None
        for split in SPLITS:
            if split not in loaded or loaded[split].num_rows == 0:
                report["missing_splits"].append(f"{language}/{split}")
                continue
            name = f"{source} ({language}/{split})"
            table = loaded[split].data.table
            ids.append(table["review_id"])  # before any row is dropped
            origin = Origin(name, language_from="the config")
            table, dropped = check_marc_table(origin, table, language)
            parts[split].append(table)
            for reason, count in dropped.items():
                report["dropped_rows"][reason] = report["dropped_rows"].get(reason, 0) + count
    report["duplicate_review_ids"] = duplicate_ids(ids)
    return {split: _concat(tables) for split, tables in parts.items()}, report


def check_leaks(tables: dict[str, pa.Table]) -> None:
    """A review in two splits (its review_id in both) would be scored after being trained
    on, or scored twice: an error that names a few."""
    for index, first in enumerate(SPLITS):
        for second in SPLITS[index + 1:]:
            if not tables[first].num_rows or not tables[second].num_rows:
                continue
            # The larger split's ids are looked up among the smaller one's (a smaller set).
            ids, among = sorted((tables[first]["review_id"], tables[second]["review_id"]),
                                key=len, reverse=True)
            shared = ids.filter(pc.is_in(ids, value_set=among))
            if len(shared):
                examples = ", ".join(map(repr, shared.slice(0, 3).to_pylist()))
                raise UserError(
                    f"{len(shared)} review_id(s) are in both the {first} and the {second} "
                    f"split (e.g. {examples}): a leak, the {second} split would score reviews "
                    f"that are also {first} reviews. Remove them from one of the two files.")


def _concat(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables) if tables else MARC_SCHEMA.empty_table()


def category_counts(tables: dict[str, pa.Table]) -> dict[str, dict[str, dict[str, int]]]:
    """``{language: {split: {category: rows}}}``, most frequent first (pandas' value_counts)."""
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for split, table in tables.items():
        if not table.num_rows:
            continue
        grouped = table.group_by(["language", "product_category"]).aggregate([
            ("review_id", "count")]).to_pylist()
        for row in grouped:
            counts.setdefault(row["language"], {}).setdefault(split, {})[
                row["product_category"]] = row["review_id_count"]
    return {lang: {split: dict(sorted(cats.items(), key=lambda kv: (-kv[1], kv[0])))
                   for split, cats in sorted(by_split.items(), key=lambda kv: SPLITS.index(kv[0]))}
            for lang, by_split in sorted(counts.items())}


def category_rows(counts: dict[str, dict[str, dict[str, int]]]) -> list[tuple[str, str, str, int]]:
    """``(language, split, category, reviews)`` rows of :func:`category_counts`' table."""
    return [(language, split, category, reviews)
            for language, by_split in counts.items() for split, by_category in by_split.items()
            for category, reviews in by_category.items()]


def duplicate_ids(review_ids: Iterable[pa.ChunkedArray]) -> int:
    """Rows whose ``review_id`` occurred in an earlier row (of any array); null ids count too."""
    chunks = [chunk for ids in review_ids for chunk in ids.chunks]
    ids = pa.concat_arrays(chunks) if chunks else pa.array([], type=pa.string())
    return len(ids) - len(pc.unique(pc.drop_null(ids)))


def download(source: str, languages: list[str], sample_dir: Path = SAMPLE_DIR
             ) -> tuple[dict[str, pa.Table], dict]:
    """Read the reviews of ``languages`` from ``source``; return tables per split and a report."""
    check_languages(languages)
    if source.startswith("hf:"):
        tables, report = read_hub(source, languages)
    else:
        folder = sample_dir if source == "sample" else Path(source).expanduser()
        tables, report = read_local(folder, languages)
    duplicates = report["duplicate_review_ids"]
    if duplicates:  # (with none, no review can be in two splits)
        check_leaks(tables)
        log.warning("%d review_id(s) occur more than once across the files", duplicates)
    report = {
        "source": source,
        "rows": rows_by_language(tables),
        "dropped_rows": report["dropped_rows"],
        "missing_splits": report["missing_splits"],
        "duplicate_review_ids": duplicates,
    }
    return tables, report


@stage_entry
def main() -> None:
    params = load_params("download", SPEC)
    tables, report = download(params["source"], params["languages"])
    # The course's value_counts table, per language and split, as one chart.
    rows = category_rows(category_counts(tables))
    with atomic_outputs(OUTPUT, METRICS, PLOTS) as (data, metrics, plots):
        write_splits(tables, data)
        metrics.write_text(dumps_json(report), encoding="utf-8")
        plots.mkdir()
        (plots / "categories.csv").write_text(
            csv_text(["language", "split", "category", "reviews"], rows), encoding="utf-8")
        save_png(category_chart(rows), plots / "categories.png")
    log.info("rows: %s", report["rows"])


if __name__ == "__main__":
    main()
