"""Upload a built benchmark to the Hugging Face hub (``HfApi.upload_folder``), one layout per repository."""

from __future__ import annotations

from pathlib import Path

from followir.errors import DataFormatError

LAYOUT_FOLDERS = {"original": "", "mteb": "mteb"}


def publish_files(out: str | Path, layout: str = "original") -> tuple[Path, list[str]]:
    """The folder to upload and the files it holds (relative paths, sorted)."""
    if layout not in LAYOUT_FOLDERS:
        raise ValueError(f"layout {layout!r}: use one of {', '.join(LAYOUT_FOLDERS)}")
    root = Path(out) / LAYOUT_FOLDERS[layout] if LAYOUT_FOLDERS[layout] else Path(out)
    if not (root / "README.md").is_file() or not (root / "corpus.jsonl").is_file():
        raise DataFormatError(root, None, "not a built benchmark folder (no README.md and corpus.jsonl)",
                              "build it first: 'followir build-benchmark ... --output OUT'")
    if not (Path(out) / "validation.json").is_file():
        raise DataFormatError(Path(out) / "validation.json", None, "the build did not finish (no validation report; "
                              "the output step writes it last)", "run 'followir build-benchmark' again to finish it")
    skip = {"mteb"} if layout == "original" else set()
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                   if p.is_file() and not p.name.startswith(".") and p.relative_to(root).parts[0] not in skip)
    return root, files


def publish(out: str | Path, repo: str, *, layout: str = "original", private: bool = False,
            token: str | None = None, dry_run: bool = False) -> list[str]:
    """Create the dataset repository (if needed) and upload the layout's files; returns the files."""
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ValueError(f"repository {repo!r}: give it as owner/name")
    root, files = publish_files(out, layout)
    if dry_run:
        return files
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(root), repo_id=repo, repo_type="dataset", allow_patterns=files,
                      commit_message=f"FollowIR benchmark built with followir ({layout} layout)")
    return files
