// Loads ontologies with the OWL API (Debian libowlapi-java), imports resolved only through the
// OASIS catalog next to them (no network: a missing mapping is an error), and checks the OWL 2 DL
// profile. Exit 0: every import resolved and no DL violation in the loaded ontologies' own axioms
// (violations inside imported ontologies, PROV-O's punning, are listed as "imported" and allowed);
// exit 1: a violation in their own axioms; exit 2: an ontology or an import could not be loaded.
// Usage: java -cp ... OntologyCheck CATALOG ONTOLOGY_FILE...

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import org.semanticweb.owlapi.apibinding.OWLManager;
import org.semanticweb.owlapi.model.*;
import org.semanticweb.owlapi.model.parameters.Imports;
import org.semanticweb.owlapi.profiles.OWL2DLProfile;
import org.semanticweb.owlapi.profiles.OWLProfileReport;
import org.semanticweb.owlapi.profiles.OWLProfileViolation;
import org.semanticweb.owlapi.util.SimpleIRIMapper;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

public class OntologyCheck {
    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: OntologyCheck CATALOG ONTOLOGY_FILE...");
            System.exit(2);
        }
        File catalog = new File(args[0]);
        OWLOntologyManager manager = OWLManager.createOWLOntologyManager();
        manager.getIRIMappers().clear();  // no web, no guessing: the catalog or nothing
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        Document doc = factory.newDocumentBuilder().parse(catalog);
        NodeList uris = doc.getElementsByTagNameNS("*", "uri");
        for (int i = 0; i < uris.getLength(); i++) {
            Element e = (Element) uris.item(i);
            File target = new File(catalog.getParentFile(), e.getAttribute("uri"));
            manager.getIRIMappers().add(new SimpleIRIMapper(IRI.create(e.getAttribute("name")),
                                                            IRI.create(target)));
        }
        manager.setOntologyLoaderConfiguration(manager.getOntologyLoaderConfiguration()
            .setMissingImportHandlingStrategy(MissingImportHandlingStrategy.THROW_EXCEPTION));
        int own = 0;
        for (int i = 1; i < args.length; i++) {
            File file = new File(args[i]);
            OWLOntology ontology;
            try {
                ontology = manager.loadOntologyFromOntologyDocument(file);
            } catch (OWLOntologyCreationException | UnloadableImportException error) {
                System.out.println("UNLOADABLE " + file + ": " + error.getMessage());
                System.exit(2);
                return;
            }
            IRI iri = ontology.getOntologyID().getOntologyIRI().orElse(IRI.create(file));
            System.out.println("LOADED " + iri + " axioms=" + ontology.getAxiomCount()
                + " imports=" + ontology.importsClosure().count());
            OWLProfileReport report = new OWL2DLProfile().checkOntology(ontology);
            for (OWLProfileViolation v : report.getViolations()) {
                OWLAxiom axiom;
                try {
                    axiom = v.getAxiom();
                } catch (IllegalStateException none) {  // a violation about the ontology itself
                    axiom = null;
                }
                boolean mine = axiom == null
                    ? v.getOntology().equals(ontology)
                    : ontology.containsAxiom(axiom, Imports.EXCLUDED,
                          org.semanticweb.owlapi.model.parameters.AxiomAnnotations.IGNORE_AXIOM_ANNOTATIONS);
                if (mine) {
                    own++;
                    System.out.println("VIOLATION " + iri + ": " + v);
                } else {
                    System.out.println("IMPORTED " + iri + ": " + v.getClass().getSimpleName());
                }
            }
        }
        System.out.println("OWN_VIOLATIONS " + own);
        System.exit(own == 0 ? 0 : 1);
    }
}
