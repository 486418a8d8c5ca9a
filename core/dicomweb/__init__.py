"""Studies from a PACS over DICOMweb (QIDO-RS search, WADO-RS retrieve, STOW-RS store).

``server``: where the PACS is and who we are to it (credentials kept in memory, never
written to a project, a log or a message). ``client``: search, fetch a study's images into
a cache folder (each with its DICOMweb address as its recorded source), store landmark
reports. Every failure is a :class:`DicomWebError` with a one-line message. No Qt.
"""

from core.dicomweb.client import (
    FetchedImage,
    StudySummary,
    cache_folder,
    check_date,
    fetch_instance,
    fetch_study,
    search_studies,
    store_datasets,
)
from core.dicomweb.server import DicomWebError, Server

__all__ = ["DicomWebError", "FetchedImage", "Server", "StudySummary", "cache_folder", "check_date", "fetch_instance",
           "fetch_study", "search_studies", "store_datasets"]
