"""Stage filter_books: the categories kept, the others split, and names that are not
categories (miscased, misspelt, unknown)."""

from __future__ import annotations

import pytest

from stages.filter_books import filter_books
from stages.lib.errors import UserError
from tests.conftest import review
from tests.test_data_stages import table


def test_filter_books_keeps_categories_and_explains_empty_split():
    rows = [review("en", i, category=c) for i, c in enumerate(["book", "toy", "pc"])]
    kept = filter_books({"train": table(rows), "test": table([])}, ["book", "pc"])
    assert kept["train"]["product_category"].to_pylist() == ["book", "pc"]
    assert kept["test"].num_rows == 0
    validation = table([review("en", 9, category="toy")])
    with pytest.raises(UserError, match="leaves the validation split.* empty.*book, pc, toy"):
        filter_books({"train": table(rows), "validation": validation}, ["book"])


@pytest.mark.parametrize(("key", "name", "hint"), [
    ("categories", "Book", "Did you mean 'book'"),
    ("categories", "digital_ebook", "Did you mean 'digital_ebook_purchase'"),
    ("others_categories", "toys", "Did you mean 'toy'"),
    ("others_categories", "Toy", "matched exactly.*Did you mean 'toy'"),
    # Not a category at all (the data may lack one of MARC's, but this is none of them).
    ("others_categories", "gardening", "not a product category. The categories in the data "
                                       "are: book, digital_ebook_purchase, toy"),
])
def test_filter_books_names_the_closest_category_for_a_misspelt_one(key, name, hint):
    # A miscased name matched nothing and moved every book to the others split, silently;
    # an unknown others category was taken silently.
    cats = ["book", "digital_ebook_purchase", "toy"]
    tables = {"train": table([review("en", i, category=c) for i, c in enumerate(cats)])}
    params = {"categories": ["book"], "others_categories": "all", "others_splits": ["train"],
              key: [name]}
    with pytest.raises(UserError, match=f"filter_books.{key} lists '{name}'.*{hint}"):
        filter_books(tables, params["categories"], params["others_categories"],
                     params["others_splits"])


def test_filter_books_takes_a_marc_category_the_data_lacks(caplog):
    tables = {"train": table([review("en", i, category=c) for i, c in
                              enumerate(["book", "toy", "pc"])])}
    kept = filter_books(tables, ["book", "digital_ebook_purchase"], ["toy", "kitchen"],
                        ["train"])
    assert kept["others"]["product_category"].to_pylist() == ["toy"]
    assert "'digital_ebook_purchase', a category no review here has" in caplog.text
    assert "'kitchen', a category no review here has" in caplog.text


def test_filter_books_keeps_other_categories_of_chosen_splits_as_others_split():
    cats = ["book", "toy", "pc", "book", "toy", "garden"]
    train = table([review("en", i, category=c) for i, c in enumerate(cats)])
    validation = table([review("es", i, category=c) for i, c in enumerate(cats)])
    tables = {"train": train, "validation": validation}

    listed = filter_books(tables, ["book"], ["toy", "garden"], ["train"])
    assert set(listed) == {"train", "validation", "others"}
    assert listed["others"]["product_category"].to_pylist() == ["toy", "toy", "garden"]
    assert listed["others"]["language"].to_pylist() == ["en"] * 3  # train rows only
    assert listed["train"]["product_category"].to_pylist() == ["book", "book"]
    assert listed["validation"]["product_category"].to_pylist() == ["book", "book"]

    # Validation's other categories too (MARC's dev files: the only Spanish pairs), in the
    # order of the splits; never a book of validation.
    both = filter_books(tables, ["book"], "all", ["train", "validation"])
    assert both["others"]["product_category"].to_pylist() == ["toy", "pc", "toy", "garden"] * 2
    assert both["others"]["language"].to_pylist() == ["en"] * 4 + ["es"] * 4
    assert "others" not in filter_books(tables, ["book"], [])
    assert "others" not in filter_books(tables, ["book"], "all", [])

    with pytest.raises(UserError, match="others_categories lists book, which filter_books"):
        filter_books(tables, ["book"], ["book", "toy"])
    only_books = {"train": table([review("en", 1, category="book")])}
    with pytest.raises(UserError, match=r"others_categories \['garden'\] matches no rows"):
        filter_books({"train": train}, ["book"], ["garden"], ["validation"])
    with pytest.raises(UserError, match=r"others_categories all matches no rows"):
        filter_books(only_books, ["book"], "all", ["train"])
