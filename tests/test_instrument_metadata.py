"""SerialEM .mdoc and Thermo Fisher EPU/Tomo XML metadata, the YAML pre-fill and the voltage cross-checks.

The fixtures are written by the tests in the shape the instruments write them (trimmed to a few images).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from openem_build.authoring.prefill import prefill
from openem_build.data import headers, mdoc
from openem_build.records.crosscheck import crosscheck
from openem_build.records.problems import ERROR, WARNING
from openem_build.records.yamlsafe import parse

# A dose-symmetric tilt series, as SerialEM 4 writes it (image order = acquisition order).
TILTS = [0.0, 3.0, -3.0, -6.0, 6.0, 9.0, -9.0, -12.0, 12.0]


def tilt_series_mdoc(name: str = "TS_01", tilts: list[float] = TILTS, voltage: str = "300",
                     pixel: str = "2.678", start_minute: int = 3) -> str:
    lines = [f"PixelSpacing = {pixel}", f"Voltage = {voltage}", f"ImageFile = {name}.mrc", "ImageSize = 4096 4096",
             "DataMode = 1", "",
             "[T = SerialEM: Digitized on ScopeM Krios G4                  12-Mar-24  14:03:11    ]", "",
             "[T =     Tilt axis angle = 85.3, binning = 1  spot = 8  camera = 0]", ""]
    for z, tilt in enumerate(tilts):
        stage = tilt + (0.0123 if z % 2 else -0.0087)  # the stage reads back a little off the target
        lines += [f"[ZValue = {z}]", f"TiltAngle = {stage:.4f}", "StagePosition = 123.45 -67.89",
                  "StageZ = -12.3", "Magnification = 64000", "Intensity = 0.123456", "ExposureDose = 3.1",
                  f"PixelSpacing = {pixel}", "SpotSize = 8", "Defocus = -3.96", "ImageShift = 0.1 -0.2",
                  "RotationAngle = 175.3", "ExposureTime = 0.8", "Binning = 1", "MagIndex = 31",
                  "CountsPerElectron = 32", "TargetDefocus = " + ("-3.5" if z % 3 else "-4"),
                  f"SubFramePath = X:\\frames\\{name}_{z:03d}_{tilt:.1f}.tif", "NumSubFrames = 10",
                  f"DateTime = 12-Mar-24  14:{start_minute + z:02d}:11", ""]
    return "\n".join(lines)


MONTAGE = """\
PixelSpacing = 21.5
Voltage = 300
ImageFile = atlas.mrc
ImageSize = 4096 4096
Montage = 1
DataMode = 1

[T = SerialEM: Digitized on ScopeM Krios G4                  11-Mar-24  09:00:00    ]

[ZValue = 0]
PieceCoordinates = 0 0 0
TiltAngle = 0.01
Magnification = 2250
DateTime = 11-Mar-24  09:00:10

[ZValue = 1]
PieceCoordinates = 3686 0 0
TiltAngle = 0.01
Magnification = 2250
DateTime = 11-Mar-24  09:00:20

[ZValue = 2]
PieceCoordinates = 0 3686 0
TiltAngle = 0.01
Magnification = 2250
DateTime = 11-Mar-24  09:00:30

[MontSection = 0]
TiltAngle = 0.01
Magnification = 2250
"""


def epu_xml(voltage: str = "300000", pixel: str = "7.3E-11", dose: str = "5.0E+21",
            defocus: str = "-1.2E-06", when: str = "2024-03-12T14:03:11.1158288+01:00",
            detector: str = "Falcon 4i", version: str = "3.6.0.6389") -> str:
    """A per-movie EPU metadata file (FoilHole_…_Data_….xml), trimmed to what is read plus a little."""
    return f"""\
<MicroscopeImage xmlns="http://schemas.datacontract.org/2004/07/Fei.SharedObjects"
                 xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
  <name>Empty</name>
  <uniqueID>5b6d1c8e-1b5c-4c9e-9f3b-0c2d6f1e4a11</uniqueID>
  <CustomData xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays">
    <a:KeyValueOfstringanyType>
      <a:Key>DoseOnCamera</a:Key>
      <a:Value i:type="b:double" xmlns:b="http://www.w3.org/2001/XMLSchema">9.7</a:Value>
    </a:KeyValueOfstringanyType>
    <a:KeyValueOfstringanyType>
      <a:Key>Detectors[EF-Falcon].CommercialName</a:Key>
      <a:Value i:type="b:string" xmlns:b="http://www.w3.org/2001/XMLSchema">{detector}</a:Value>
    </a:KeyValueOfstringanyType>
    <a:KeyValueOfstringanyType>
      <a:Key>Dose</a:Key>
      <a:Value i:type="b:double" xmlns:b="http://www.w3.org/2001/XMLSchema">{dose}</a:Value>
    </a:KeyValueOfstringanyType>
    <a:KeyValueOfstringanyType>
      <a:Key>AppliedDefocus</a:Key>
      <a:Value i:type="b:double" xmlns:b="http://www.w3.org/2001/XMLSchema">{defocus}</a:Value>
    </a:KeyValueOfstringanyType>
  </CustomData>
  <SpatialScale>
    <pixelSize>
      <x><numericValue>{pixel}</numericValue></x>
      <y><numericValue>{pixel}</numericValue></y>
    </pixelSize>
  </SpatialScale>
  <microscopeData>
    <acquisition>
      <acquisitionDateTime>{when}</acquisitionDateTime>
      <camera>
        <Binning xmlns:a="http://schemas.datacontract.org/2004/07/System.Drawing"><a:x>1</a:x><a:y>1</a:y></Binning>
        <CameraSpecificInput xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays">
          <a:KeyValueOfstringanyType>
            <a:Key>ElectronCountingEnabled</a:Key>
            <a:Value i:type="b:boolean" xmlns:b="http://www.w3.org/2001/XMLSchema">true</a:Value>
          </a:KeyValueOfstringanyType>
          <a:KeyValueOfstringanyType>
            <a:Key>FractionationSettings</a:Key>
            <a:Value i:type="b:EquidistantFractionation"
                     xmlns:b="http://schemas.datacontract.org/2004/07/Fei.Applications.Common.Omp.Interface">
              <b:NumberOffractions>40</b:NumberOffractions>
            </a:Value>
          </a:KeyValueOfstringanyType>
        </CameraSpecificInput>
        <ExposureTime>3.5</ExposureTime>
        <Name>EF-Falcon</Name>
      </camera>
    </acquisition>
    <core>
      <ApplicationSoftware>EPU</ApplicationSoftware>
      <ApplicationSoftwareVersion>{version}</ApplicationSoftwareVersion>
    </core>
    <gun><AccelerationVoltage>{voltage}</AccelerationVoltage><ExtractorVoltage>4250</ExtractorVoltage></gun>
    <instrument>
      <InstrumentID>3999</InstrumentID>
      <InstrumentModel>TITAN52339990</InstrumentModel>
    </instrument>
    <optics>
      <Defocus>4.8E-07</Defocus>
      <EnergyFilter>
        <EnergySelectionSlitInserted>true</EnergySelectionSlitInserted>
        <EnergySelectionSlitWidth>10</EnergySelectionSlitWidth>
      </EnergyFilter>
      <TemMagnification><NominalMagnification>165000</NominalMagnification></TemMagnification>
    </optics>
    <stage><Position><A>0.0012</A><B>0</B></Position></stage>
  </microscopeData>
</MicroscopeImage>
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- SerialEM -----------------------------------------------------------------------------------


def test_tilt_series_mdoc(tmp_path: Path) -> None:
    result = headers.extract(write(tmp_path / "TS_01.mrc.mdoc", tilt_series_mdoc()))
    assert result.type == "mdoc" and result.problems == ()
    assert result.data["mdoc"] == {
        "image_file": "TS_01.mrc", "image_size": [4096, 4096], "data_mode": 1, "sections": 9,
        "section_type": "ZValue", "montage": False,
        "titles": ["SerialEM: Digitized on ScopeM Krios G4 12-Mar-24 14:03:11",
                   "Tilt axis angle = 85.3, binning = 1 spot = 8 camera = 0"],
        "tilt_axis_angle_deg": 85.3,
    }
    acq = dict(result.acquisition)
    angles = acq.pop("tilt_angles_deg")
    assert angles == pytest.approx(TILTS, abs=0.02)
    assert acq == {
        "software": "SerialEM", "acceleration_voltage_kV": 300.0, "pixel_size_A": 2.678, "magnification": 64000,
        "frames": 10, "collected": "2024-03-12T14:03:11", "tilt_range_deg": [-12.0, 12.0], "tilt_step_deg": 3.0,
        "tilt_scheme": "dose-symmetric", "total_dose_e_per_A2": 27.9, "defocus_range_um": [3.5, 4.0],
    }


def test_montage_mdoc(tmp_path: Path) -> None:
    result = headers.extract(write(tmp_path / "atlas.mrc.mdoc", MONTAGE))
    assert result.problems == ()
    assert result.data["mdoc"]["montage"] is True
    assert (result.data["mdoc"]["pieces"], result.data["mdoc"]["montage_sections"]) == (3, 1)
    assert result.acquisition == {"software": "SerialEM", "acceleration_voltage_kV": 300.0, "pixel_size_A": 21.5,
                                  "magnification": 2250, "collected": "2024-03-11T09:00:10"}


@pytest.mark.parametrize(("angles", "scheme"), [
    ([-60, -57, -54, -51], "unidirectional"),
    ([60, 57, 54], "unidirectional"),
    ([0, 3, 6, 9, -3, -6, -9], "bidirectional"),
    ([0, 3, -3, -6, 6, 9, -9], "dose-symmetric"),
    ([0, 3], None),
])
def test_tilt_scheme(angles: list[float], scheme: str | None) -> None:
    assert mdoc.tilt_scheme([float(a) for a in angles]) == scheme


def test_mdoc_problems(tmp_path: Path) -> None:
    text = "PixelSpacing = abc\nVoltage = 300\nthis is not mdoc\n\n[ZValue = 0]\nTiltAngle = 1\nTiltAngle = 2\n"
    result = headers.extract(write(tmp_path / "bad.mdoc", text))
    assert result.problems == (
        "line 7: TiltAngle is given twice in the same section; the last is used",
        "line 3: neither `key = value` nor `[section]`; ignored",
        "global: PixelSpacing = 'abc' is not a number",
    )
    empty = headers.extract(write(tmp_path / "empty.mdoc", "\n\n"))
    assert empty.problems == ("no `key = value` lines: not a SerialEM .mdoc file",)
    frames_only = headers.extract(write(tmp_path / "globals.mdoc", "Voltage = 200\n"))
    assert frames_only.problems == ("no [ZValue = …] or [FrameSet = …] sections: the file describes no images",)
    assert frames_only.acquisition["acceleration_voltage_kV"] == 200.0


# --- EPU ----------------------------------------------------------------------------------------


def test_epu_xml(tmp_path: Path) -> None:
    result = headers.extract(write(tmp_path / "FoilHole_1_Data_2_3_20240312_140311.xml", epu_xml()))
    assert result.type == "epu" and result.problems == ()
    assert result.data["epu"] == {"instrument_model": "TITAN52339990", "instrument_id": "3999",
                                  "camera": "EF-Falcon", "exposure_time_s": 3.5, "binning": 1,
                                  "acquired": "2024-03-12T14:03:11.1158288+01:00"}
    assert result.acquisition == {
        "software": "EPU 3.6.0.6389", "manufacturer": "Thermo Fisher Scientific", "acceleration_voltage_kV": 300.0,
        "detector": "Falcon 4i", "detector_mode": "counting", "energy_filter_slit_eV": 10.0, "pixel_size_A": 0.73,
        "magnification": 165000, "dose_e_per_A2": 50.0, "defocus_um": 1.2, "tilt_angle_deg": 0.07, "frames": 40,
        "collected": "2024-03-12T14:03:11.1158288+01:00",
    }


def test_epu_refuses_unsafe_or_broken_xml(tmp_path: Path) -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><MicroscopeImage>&a;</MicroscopeImage>'
    assert headers.extract(write(tmp_path / "bomb.xml", bomb)).problems == (
        "the XML declares a DOCTYPE or entities; not read",)
    broken = headers.extract(write(tmp_path / "broken.xml", "<MicroscopeImage>\n  <gun>\n</MicroscopeImage>"))
    assert broken.type == "xml" and broken.problems == ("line 3, column 3: not well-formed XML",)
    other = headers.extract(write(tmp_path / "EpuSession.xml", "<EpuSessionXml><Name>x</Name></EpuSessionXml>"))
    assert other.as_json() == {"type": "xml", "size_bytes": 45, "xml": {"root": "EpuSessionXml"}}
    implausible = headers.extract(write(tmp_path / "v.xml", epu_xml(voltage="300")))
    assert implausible.problems == ("AccelerationVoltage 300 V is implausible; ignored",)


# --- pre-fill -----------------------------------------------------------------------------------


def test_prefill_tomography_from_mdoc(tmp_path: Path) -> None:
    files = {
        "tilt_series/TS_01.mrc.mdoc": headers.extract(write(tmp_path / "1.mdoc", tilt_series_mdoc())),
        "tilt_series/TS_02.mrc.mdoc": headers.extract(write(tmp_path / "2.mdoc", tilt_series_mdoc(
            "TS_02", start_minute=30))),
        "tilt_series/TS_03.mrc.mdoc": headers.extract(write(tmp_path / "3.mdoc", tilt_series_mdoc(
            "TS_03", tilts=[-60.0, -57.0, -54.0, -51.0], start_minute=45))),
        "atlas/atlas.mrc.mdoc": headers.extract(write(tmp_path / "4.mdoc", MONTAGE)),
    }
    filled = prefill(files)
    # The atlas (a montage beside tilt series) is navigation: it describes no data. Ranges span every tilt series.
    assert filled.values == {
        "instrument": {"acceleration_voltage_kV": 300},
        "acquisition": {"pixel_size_A": 2.678, "magnification": 64000, "software": "SerialEM",
                        "tilt_step_deg": 3, "tilt_scheme": "dose-symmetric", "tilt_range_deg": [-60, 12],
                        "total_dose_e_per_A2": 27.9, "defocus_range_um": [3.5, 4], "frames_per_movie": 10},
        "dates": {"collected": "2024-03-12"},
    }
    assert filled.sources["acquisition.tilt_range_deg"] == "tilt_series/TS_01.mrc.mdoc (and 2 more files)"
    assert filled.sources["dates.collected"] == "tilt_series/TS_01.mrc.mdoc"
    # A value is said to come only from the files that agree with it; the others are named in a note.
    assert filled.sources["acquisition.total_dose_e_per_A2"] == "tilt_series/TS_01.mrc.mdoc (and 1 more file)"
    assert filled.notes == [
        "acquisition.tilt_scheme: the files disagree (dose-symmetric in tilt_series/TS_01.mrc.mdoc (and 1 more "
        "file); unidirectional in tilt_series/TS_03.mrc.mdoc); dose-symmetric, the value of most files, was taken: "
        "check",
        "acquisition.total_dose_e_per_A2: the files disagree (27.9 e⁻/Å² in tilt_series/TS_01.mrc.mdoc (and 1 more "
        "file); 12.4 e⁻/Å² in tilt_series/TS_03.mrc.mdoc); 27.9 e⁻/Å², the value of most files, was taken: check",
    ]


def test_prefill_single_particle_from_epu(tmp_path: Path) -> None:
    files = {
        f"metadata/FoilHole_{i}_Data.xml": headers.extract(write(tmp_path / f"{i}.xml", epu_xml(
            defocus=f"-{0.8 + 0.2 * i:.1f}E-06", when=f"2024-03-{12 + i}T10:00:00+01:00")))
        for i in range(4)
    }
    files["movies/FoilHole_0_Data_fractions.eer"] = None
    filled = prefill(files)
    assert filled.values == {
        "instrument": {"acceleration_voltage_kV": 300, "manufacturer": "Thermo Fisher Scientific",
                       "detector": "Falcon 4i", "detector_mode": "counting", "energy_filter": "10 eV slit"},
        "acquisition": {"pixel_size_A": 0.73, "magnification": 165000, "software": "EPU 3.6.0.6389",
                        "total_dose_e_per_A2": 50, "defocus_range_um": [0.8, 1.4], "frames_per_movie": 40},
        "dates": {"collected": "2024-03-12"},
    }
    assert filled.notes == [] and filled.image_sets == {}
    assert filled.sources["instrument.acceleration_voltage_kV"] == "metadata/FoilHole_0_Data.xml (and 3 more files)"


# --- voltage and other cross-checks -------------------------------------------------------------

YAML = """\
instrument:
  microscope: Titan Krios G4
  acceleration_voltage_kV: 200
acquisition:
  pixel_size_A: 0.73
  magnification: 130000
data:
  image_sets:
    - name: EPU metadata
      directory: metadata
      category: metadata
      format: xml
"""


def test_crosscheck_voltage_magnification_and_pixel_size(tmp_path: Path) -> None:
    files = {"metadata/a.xml": headers.extract(write(tmp_path / "a.xml", epu_xml())),
             "metadata/b.xml": headers.extract(write(tmp_path / "b.xml", epu_xml(pixel="1.46E-10"))),
             "tomo/TS_01.mdoc": headers.extract(write(tmp_path / "t.mdoc", tilt_series_mdoc(pixel="0.73")))}
    doc = parse(YAML)
    problems = crosscheck(doc.data, files, doc, "datasets/x/dataset.yaml")
    assert [(p.line, p.col, p.field, p.severity, p.message) for p in problems] == [
        (5, 17, "acquisition.pixel_size_A", ERROR,
         "pixel size 0.73 Å differs from the 1.46 Å the acquisition metadata of metadata/b.xml record (2× the "
         "declared size: binning or super-resolution?)"),
        (3, 28, "instrument.acceleration_voltage_kV", ERROR,
         "200 kV differs from the 300 kV recorded in metadata/a.xml (and 2 more files)"),
        (6, 18, "acquisition.magnification", ERROR,
         "magnification 130000 differs from the nominal 165000 recorded in metadata/a.xml (and 1 more file)"),
        (6, 18, "acquisition.magnification", ERROR,
         "magnification 130000 differs from the nominal 64000 recorded in tomo/TS_01.mdoc"),
    ]
    assert problems[0].hint == ("set pixel_size_A to the calibrated pixel size the files record (1.46 Å), or give "
                                "the image set of files recorded at another pixel size its own pixel_size_A")
    assert problems[1].hint == "check the voltage; the instrument's metadata files record what the data were taken at"


def test_crosscheck_missing_voltage_is_suggested(tmp_path: Path) -> None:
    files = {"tomo/TS_01.mdoc": headers.extract(write(tmp_path / "t.mdoc", tilt_series_mdoc(pixel="0.73")))}
    doc = parse(YAML.replace("  acceleration_voltage_kV: 200\n", "").replace("  magnification: 130000\n", ""))
    problems = crosscheck(doc.data, files, doc.where, "d.yaml")
    assert [(p.line, p.field, p.severity, p.message, p.hint) for p in problems] == [
        (2, "instrument.acceleration_voltage_kV", WARNING,
         "instrument.acceleration_voltage_kV is not given, but tomo/TS_01.mdoc records 300 kV",
         "add `acceleration_voltage_kV: 300` under instrument")]
    assert crosscheck(doc.data, {}, doc, "d.yaml") == []
